//! The trae HTTP server: poem + poem-openapi routers over the trae services, the middleware
//! every request passes through, and the pieces the `trae` binary runs.
//!
//! Handlers are bindings: each parses its input, calls one service of `trae-core`, and maps
//! the result. Rules live in the library crates.

pub mod allowed_methods;
pub mod api;
pub mod app;
pub mod backup_schedule;
pub mod body_limit;
pub mod credentials;
pub mod cross_origin;
pub mod error;
pub mod event_socket;
pub mod gateway_limit;
pub mod header_limit;
pub mod logging;
pub mod prometheus;
pub mod request_context;
pub mod request_data;
pub mod security_headers;
pub mod serve;
pub mod site;
pub mod spec;

pub use app::App;
pub use error::ApiError;
