//! The `trae` subcommands that are more than a call into the library.

pub(crate) mod auth;
pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod events;
pub(crate) mod llm;
pub(crate) mod secrets;
pub(crate) mod solo;
pub(crate) mod tdd;
pub(crate) mod tdd_gen;
