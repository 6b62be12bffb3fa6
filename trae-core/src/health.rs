//! The one health status scale shared by components and external APIs.

use serde::{Deserialize, Serialize};

/// How well a component is doing, from best to worst after `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Not checked yet.
    Unknown,
    /// Working normally.
    Healthy,
    /// Working, with problems worth attention.
    Degraded,
    /// Not working.
    Failing,
    /// Not working, and the failure threatens the whole system.
    Critical,
}

impl HealthStatus {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Failing => "failing",
            Self::Critical => "critical",
        }
    }
}
