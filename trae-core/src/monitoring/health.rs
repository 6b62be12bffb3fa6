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
    /// Worse is larger: unknown and healthy 0, degraded 1, failing 2, critical 3.
    pub fn severity(self) -> u8 {
        match self {
            Self::Unknown | Self::Healthy => 0,
            Self::Degraded => 1,
            Self::Failing => 2,
            Self::Critical => 3,
        }
    }

    /// Whether it is working (healthy or degraded).
    pub fn is_up(self) -> bool {
        matches!(self, Self::Healthy | Self::Degraded)
    }

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

/// When failures and slowness change health: of an external API endpoint or a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthRules {
    /// Failures in a row that make it degraded.
    pub degraded_after: u32,
    /// Failures in a row that make it failing (skipped until a check passes).
    pub failing_after: u32,
    /// Failures in a row that make it critical.
    pub critical_after: u32,
    /// A success slower than this share of the timeout (percent) counts as degraded.
    pub slow_percent: u32,
}

impl Default for HealthRules {
    fn default() -> Self {
        Self {
            degraded_after: 1,
            failing_after: 3,
            critical_after: 10,
            slow_percent: 80,
        }
    }
}

impl HealthRules {
    /// The status after a success taking `latency_ms` against `timeout_ms`: healthy, or
    /// degraded when slow.
    pub fn after_success(&self, latency_ms: u64, timeout_ms: u32) -> HealthStatus {
        if latency_ms.saturating_mul(100) >= u64::from(timeout_ms) * u64::from(self.slow_percent) {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        }
    }

    /// The status after `failures` failures in a row.
    pub fn after_failures(&self, failures: u32) -> HealthStatus {
        if failures >= self.critical_after {
            HealthStatus::Critical
        } else if failures >= self.failing_after {
            HealthStatus::Failing
        } else if failures >= self.degraded_after {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        }
    }
}
