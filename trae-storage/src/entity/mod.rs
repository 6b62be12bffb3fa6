//! sea-orm entities, one module per table.

pub(crate) mod pet;
