//! The routers, one module per router of the HTTP surface.

pub mod admin;
pub mod apis;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod channels;
mod content_wire;
pub mod contradictions;
pub mod discovery;
pub mod events;
pub mod evidence;
pub mod health;
pub mod json_body;
pub mod llm;
pub mod metrics;
pub mod page;
pub mod personas;
pub mod pets;
pub mod policy;
pub mod runtime;
pub mod secrets;
pub mod solo;
pub mod tasks;
pub mod tdd;
pub mod users;

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
    /// Registration, sign-in, tokens and API keys.
    Auth,
    /// Your own profile.
    Users,
    /// User administration.
    Admin,
    /// Roles and permissions.
    Policy,
    /// The audit log.
    Audit,
    /// The durable task queue.
    Tasks,
    /// Metrics and request history.
    Metrics,
    /// External APIs: the registry, usage, logs, health checks and calls.
    Apis,
    /// The secrets vault.
    Secrets,
    /// Database backups.
    Backups,
    /// Content: channels, personas, evidence and contradictions.
    Content,
    /// The event stream: pages, server-sent events (and the WebSocket at `/ws/events`).
    Events,
    /// Language models: chat (OpenAI-compatible, whole or streamed) and model endpoints.
    Llm,
    /// The agents: TDD runs (and, later, SOLO).
    Agents,
}
