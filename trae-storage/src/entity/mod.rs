//! sea-orm entities, one module per table.

pub(crate) mod audit;
pub(crate) mod pet;
