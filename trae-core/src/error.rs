//! The error type every trae-core service returns.

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a trae service can fail with; bindings map each variant to one HTTP status and
/// one Python exception.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The addressed record does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// The kind of record, e.g. "pet".
        entity: &'static str,
        /// The identifier that was looked up.
        id: String,
    },
    /// Input broke a rule; nothing was written.
    #[error("{field}: {message}")]
    Validation {
        /// The offending field (dotted path for nested input).
        field: String,
        /// What rule was broken, for a human.
        message: String,
    },
    /// The change would duplicate or contradict an existing record.
    #[error("{0}")]
    Conflict(String),
    /// The caller did not prove who they are (missing, invalid or expired credentials).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but lacks the permission the operation needs.
    #[error("{0}")]
    Forbidden(String),
    /// The account is locked after repeated failures; try again after the given seconds.
    #[error("account locked; retry in {retry_after_secs} s")]
    Locked {
        /// Seconds until the lock expires.
        retry_after_secs: u64,
    },
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A backing service (the database) cannot be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Too much work is waiting (a queue's backlog is at its limit); nothing was written.
    /// Try again after the given seconds.
    #[error("{message}")]
    Overloaded {
        /// What is full, for a human.
        message: String,
        /// Seconds after which a retry may succeed (an estimate from the recent drain rate).
        retry_after_secs: u64,
    },
    /// A run's budget cannot pay for a call; nothing was sent.
    #[error("budget exceeded ({limit}): {message}")]
    BudgetExceeded {
        /// The limit: `tokens`, `cost` or `wall_time`.
        limit: &'static str,
        /// What the call needed and what was left, for a human.
        message: String,
    },
    /// An external service (a model provider) failed or could not be reached.
    #[error("upstream failed: {0}")]
    Upstream(String),
    /// Every provider that could take the call is at a rate limit; nothing was sent.
    #[error("{message}")]
    RateLimited {
        /// What is limited, for a human.
        message: String,
        /// Milliseconds until a call is next allowed.
        retry_after_ms: u64,
    },
    /// A model's answer did not have the shape asked for, even after a repair round.
    #[error("the model's answer is invalid at {path}: {message}")]
    InvalidAnswer {
        /// The JSON pointer into the answer that failed (`/` for the whole of it).
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The storage layer failed in an unexpected way.
    #[error("storage: {0}")]
    Storage(String),
}

impl Error {
    /// A validation error on `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A not-found error for the `entity` with identifier `id`.
    pub fn not_found(entity: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// The stable machine-readable code of this error (`not_found`, `validation_failed`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Validation { .. } => "validation_failed",
            Self::Conflict(_) => "conflict",
            Self::Unauthenticated(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Locked { .. } => "locked",
            Self::Config(_) => "invalid_configuration",
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded { .. } => "overloaded",
            Self::BudgetExceeded { .. } => "budget_exceeded",
            Self::Upstream(_) => "upstream_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::InvalidAnswer { .. } => "invalid_answer",
            Self::Storage(_) => "internal",
        }
    }
}
