//! `/api/audit`: the audit log (`audit:read`).

use chrono::{DateTime, Utc};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use trae_auth::Identity;
use trae_core::{AuditFilter, PageRequest};
use uuid::Uuid;

use super::ApiTags;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// Who acted.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AuditActor")]
pub struct ActorBody {
    /// `user`, `api_key`, `system` or `anonymous`.
    pub kind: String,
    /// The user's or key's id.
    pub id: Option<Uuid>,
    /// A name, when known (for anonymous attempts, the login tried).
    pub name: Option<String>,
}

/// One audit entry.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AuditEntry")]
pub struct EntryBody {
    /// Identifier.
    pub id: Uuid,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who acted.
    pub actor: ActorBody,
    /// What they did, e.g. `auth.login`.
    pub action: String,
    /// What it was done to, e.g. `user:<id>`.
    pub target: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The client's IP.
    pub ip: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// More about it (never a secret).
    pub details: serde_json::Value,
}

impl From<trae_core::AuditEntry> for EntryBody {
    fn from(e: trae_core::AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: ActorBody {
                kind: e.actor.kind.as_str().to_owned(),
                id: e.actor.id,
                name: e.actor.name,
            },
            action: e.action,
            target: e.target,
            outcome: e.outcome.as_str().to_owned(),
            ip: e.ip,
            request_id: e.request_id,
            details: e.details,
        }
    }
}

/// The `/api/audit` router.
#[derive(Debug, Clone)]
pub struct AuditApi {
    identity: Identity,
}

impl AuditApi {
    /// A router over the identity services.
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }
}

#[OpenApi(tag = "ApiTags::Audit")]
impl AuditApi {
    /// Read the audit log
    ///
    /// Newest first. `actor` matches an actor id or name; `since` and `until` are RFC 3339.
    #[oai(path = "/api/audit", method = "get", operation_id = "list_audit")]
    #[allow(clippy::too_many_arguments)] // poem-openapi declares each query filter as a parameter
    async fn list(
        &self,
        auth: Auth,
        actor: Query<Option<String>>,
        action: Query<Option<String>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<EntryBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = AuditFilter {
            actor: actor.0,
            action: action.0,
            since: since.0,
            until: until.0,
        };
        let entries = self
            .identity
            .audit_entries(auth.principal(), filter, page)
            .await?;
        Ok(Json(entries.into()))
    }
}
