//! The audit log: an append-only record of security-relevant actions.
//!
//! Entries say who ([`ActorRef`]) did what (`action`) to what (`target`) with which outcome,
//! from where (IP, request id). Details pass through [`redact`] first, so a password, token or
//! key handed in by mistake never reaches storage.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Clock, Error, EventBus, Page, PageRequest, Result};

/// What kind of principal acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A signed-in user.
    User,
    /// An API key (on behalf of its owner).
    ApiKey,
    /// trae itself (CLI, bootstrap, Python without a principal).
    System,
    /// Nobody authenticated yet (e.g. a failed login).
    Anonymous,
}

impl ActorKind {
    /// The snake_case name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiKey => "api_key",
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Result<Self> {
        [Self::User, Self::ApiKey, Self::System, Self::Anonymous]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::validation("actor_kind", format!("unknown actor kind {s:?}")))
    }
}

/// Who acted, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRef {
    /// The kind of principal.
    pub kind: ActorKind,
    /// The user's or key's id.
    pub id: Option<Uuid>,
    /// A readable name (username, key name, or the login name tried).
    pub name: Option<String>,
}

impl ActorRef {
    /// trae itself.
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            name: Some("system".into()),
        }
    }
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and failed (e.g. a wrong password).
    Failure,
    /// It was refused for lack of permission.
    Denied,
}

impl Outcome {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Result<Self> {
        [Self::Success, Self::Failure, Self::Denied]
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| Error::validation("outcome", format!("unknown outcome {s:?}")))
    }
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The client's IP address (from the socket, or a trusted proxy's header).
    pub ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl RequestMeta {
    /// An audit entry for an action taken in this request.
    pub fn audit_entry(
        &self,
        actor: ActorRef,
        action: &str,
        target: Option<String>,
        outcome: Outcome,
        details: serde_json::Value,
    ) -> NewAuditEntry {
        NewAuditEntry {
            actor,
            action: action.to_owned(),
            target,
            outcome,
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
            details,
        }
    }
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// Who acted.
    pub actor: ActorRef,
    /// What they did, dotted lowercase, e.g. `auth.login`.
    pub action: String,
    /// What it was done to, e.g. `user:0190…`.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The client's IP address.
    pub ip: Option<String>,
    /// The request id, to join with the logs.
    pub request_id: Option<String>,
    /// Anything else worth keeping (redacted before storage).
    pub details: serde_json::Value,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Identifier (UUIDv7).
    pub id: Uuid,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor: ActorRef,
    /// What they did.
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The client's IP address.
    pub ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// Redacted details.
    pub details: serde_json::Value,
}

/// Which entries a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries whose actor id or name equals this.
    pub actor: Option<String>,
    /// Entries with this action.
    pub action: Option<String>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
}

/// Storage of audit entries: append and read, never change. Lists are newest first.
#[async_trait]
pub trait AuditRepository: Send + Sync + 'static {
    /// Appends an entry.
    async fn append(&self, entry: &AuditEntry) -> Result<()>;
    /// Lists entries matching `filter`, newest first.
    async fn list(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>>;
}

/// Keys whose values are never stored, at any depth of `details`.
const SENSITIVE_KEY_PARTS: [&str; 7] = [
    "password",
    "token",
    "secret",
    "key",
    "authorization",
    "cookie",
    "credential",
];

/// Replaces the value of every sensitive-looking key (`password`, `refresh_token`,
/// `api_key`, …) with `"[redacted]"`.
pub fn redact(details: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match details {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    let value = if SENSITIVE_KEY_PARTS.iter().any(|p| lower.contains(p)) {
                        Value::String("[redacted]".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn check_action(action: &str) -> Result<()> {
    let ok = (1..=64).contains(&action.len())
        && action
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "action",
            format!("must be 1–64 characters of a-z, 0-9, '.', '_'; got {action:?}"),
        ))
    }
}

/// The audit log service.
#[derive(Clone)]
pub struct AuditLog {
    repo: Arc<dyn AuditRepository>,
    clock: Arc<dyn Clock>,
    events: Option<Arc<dyn EventBus>>,
}

/// Where the audit log publishes each entry it records (topic `audit`).
pub const EVENT_SOURCE: &str = "audit";

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// An audit log over `repo`, stamping times from `clock`.
    pub fn new(repo: Arc<dyn AuditRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            repo,
            clock,
            events: None,
        }
    }

    /// This log, publishing every entry it records on `events` as `audit.recorded`.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventBus>) -> Self {
        self.events = Some(events);
        self
    }

    /// Appends an entry (details redacted), publishes it and returns it as stored.
    pub async fn record(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
        let stored = self.prepare(entry)?;
        self.repo.append(&stored).await?;
        self.announce(&stored);
        Ok(stored)
    }

    /// Publishes an entry that a repository stored with the change it records (see
    /// [`AuditLog::prepare`]); call it after that commit.
    pub fn announce(&self, entry: &AuditEntry) {
        if let Some(events) = &self.events {
            let payload = serde_json::to_value(entry).unwrap_or(serde_json::Value::Null);
            events.publish(EVENT_SOURCE, "audit.recorded", payload);
        }
    }

    /// The entry as it would be stored (id, time, details redacted), for a repository that
    /// appends it in the same transaction as the change it records.
    pub fn prepare(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
        check_action(&entry.action)?;
        Ok(AuditEntry {
            id: Uuid::now_v7(),
            at: self.clock.now_micros(),
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            outcome: entry.outcome,
            ip: entry.ip,
            request_id: entry.request_id,
            details: redact(&entry.details),
        })
    }

    /// Lists entries, newest first.
    pub async fn list(&self, filter: AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>> {
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && since > until
        {
            return Err(Error::validation("since", "must not be after until"));
        }
        self.repo.list(&filter, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitive_details_are_redacted_at_any_depth() {
        let details = json!({
            "username": "alice",
            "password": "hunter2hunter2",
            "nested": {"refresh_token": "rt_abc", "API_KEY": "trae_x", "count": 3},
            "list": [{"new_password": "x"}, "plain"],
            "reason": "bad credentials"
        });
        let clean = redact(&details);
        let text = clean.to_string();
        for secret in ["hunter2hunter2", "rt_abc", "trae_x", "\"x\""] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(clean["username"], "alice");
        assert_eq!(clean["nested"]["count"], 3);
        assert_eq!(clean["reason"], "bad credentials");
        assert_eq!(clean["list"][1], "plain");
    }

    #[test]
    fn actions_are_dotted_lowercase() {
        assert!(check_action("auth.login").is_ok());
        assert!(check_action("api_key.revoke").is_ok());
        for bad in ["", "Auth.Login", "auth login", &"a".repeat(65)] {
            assert!(check_action(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kinds_and_outcomes_round_trip_their_names() {
        for kind in [
            ActorKind::User,
            ActorKind::ApiKey,
            ActorKind::System,
            ActorKind::Anonymous,
        ] {
            assert_eq!(ActorKind::parse(kind.as_str()).unwrap(), kind);
        }
        for outcome in [Outcome::Success, Outcome::Failure, Outcome::Denied] {
            assert_eq!(Outcome::parse(outcome.as_str()).unwrap(), outcome);
        }
        assert!(ActorKind::parse("root").is_err());
    }
}
