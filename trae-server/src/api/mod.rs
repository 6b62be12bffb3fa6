//! The routers, one module per router of the HTTP surface.

pub mod discovery;
pub mod health;
pub mod pets;
pub mod runtime;

use poem_openapi::Tags;

/// The tags operations are grouped under in the spec and in Swagger UI.
#[derive(Debug, Tags)]
pub enum ApiTags {
    /// Liveness, readiness and component health.
    Health,
    /// The running process: version, uptime, resources, configuration.
    Runtime,
    /// The routes and services this server offers.
    Discovery,
    /// The example pets API.
    Pets,
}
