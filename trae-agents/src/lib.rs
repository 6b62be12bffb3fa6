//! The agents of trae and the I/O they need: the outbound HTTP client every call to another
//! service goes through, the task handlers built on it, and (with the agents issues) LLM
//! providers, test runners, the sandbox commands run in, and the TDD and SOLO agents.
//!
//! It also holds the composition root, [`Trae`]: the one place every service is built from
//! the configuration, used by `trae serve`, the CLI, Python and Rust applications alike.

pub mod boot;
pub mod error;
pub mod http_task;
pub mod json_body;
pub mod llm;
pub mod orchestrator;
pub mod outbound;
pub mod sandbox;
pub mod solo;
pub mod tdd;
#[cfg(feature = "testing")]
pub mod testing;

pub use boot::{Content, Trae};
pub use error::{AgentError, Result};
pub use http_task::HttpRequestHandler;
pub use llm::gateway::{GatewayOptions, ModelEndpoint, ModelGateway, ModelStream};
pub use orchestrator::{
    ApiCall, ApiResponse, AttemptSummary, CallUsage, EndpointBody, OpenCall, Orchestrator,
    OrchestratorOptions,
};
pub use outbound::{OutboundClient, OutboundPolicy, OutboundResponse};
pub use solo::interviews::{Interviews, NewInterview};
pub use tdd::agent::{AgentSettings, Replay, TddAgent};
pub use tdd::generation::{NewGeneration, TestGenerator};
pub use tdd::runs::{NewRun, RunDetail, RunDiff, TddRuns};
