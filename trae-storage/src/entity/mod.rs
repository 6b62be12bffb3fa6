//! sea-orm entities, one module per table.

pub(crate) mod api_key;
pub(crate) mod audit;
pub(crate) mod pet;
pub(crate) mod refresh_token;
pub(crate) mod role;
pub(crate) mod role_permission;
pub(crate) mod session;
pub(crate) mod user;
pub(crate) mod user_role;
