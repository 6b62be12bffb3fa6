//! The one error type of trae-agents.

/// What can go wrong in trae-agents.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The policy refuses the call (host not allowed, loopback, bad scheme).
    #[error("refused: {0}")]
    Refused(String),
    /// The input is malformed.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The call did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection failed or broke after the request may have been sent.
    #[error("transport: {0}")]
    Transport(String),
    /// No connection could be made: nothing was sent.
    #[error("connect: {0}")]
    Connect(String),
    /// Nothing serves what was asked for (e.g. no endpoint has the capability).
    #[error("{0}")]
    NotFound(String),
    /// Every candidate is at a rate limit; the next call is allowed after `retry_after`.
    #[error("{message}")]
    Limited {
        /// What is limited.
        message: String,
        /// When a call is next allowed.
        retry_after: std::time::Duration,
    },
    /// Every attempt failed.
    #[error("{0}")]
    Upstream(String),
    /// A core service failed (storage, validation).
    #[error(transparent)]
    Core(#[from] trae_core::Error),
    /// A working copy or a sandboxed command could not be set up or run.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
}

impl AgentError {
    /// An invalid-input error on `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Results of trae-agents.
pub type Result<T> = std::result::Result<T, AgentError>;
