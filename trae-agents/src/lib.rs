//! The agents of trae and the I/O they need: the outbound HTTP client every call to another
//! service goes through, the task handlers built on it, and (with the agents issues) LLM
//! providers, test runners, and the TDD and SOLO agents.

pub mod error;
pub mod http_task;
pub mod json_body;
pub mod orchestrator;
pub mod outbound;

pub use error::{AgentError, Result};
pub use http_task::HttpRequestHandler;
pub use orchestrator::{ApiCall, ApiResponse, AttemptSummary, Orchestrator, OrchestratorOptions};
pub use outbound::{OutboundClient, OutboundPolicy, OutboundResponse};
