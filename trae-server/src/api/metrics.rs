//! `/api/metrics/*`: request history now; time series and alerts arrive with the metrics issue.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem_openapi::param::Query;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi};
use trae_auth::Identity;
use trae_core::request_history::{RequestFilter, RequestRecorder};
use trae_core::{Error, PageRequest};
use uuid::Uuid;

use super::ApiTags;
use crate::ApiError;
use crate::credentials::Auth;

/// Reading metrics and request history.
const READ: &str = "metrics:read";

/// The metrics router.
#[derive(Debug, Clone)]
pub struct MetricsApi {
    history: Option<RequestRecorder>,
    identity: Identity,
}

impl MetricsApi {
    /// A router over request history (`None` when history is off), authorizing with
    /// `identity`.
    pub fn new(history: Option<RequestRecorder>, identity: Identity) -> Self {
        Self { history, identity }
    }
}

/// One served request.
#[derive(Debug, Clone, Object)]
#[oai(rename = "RequestRecord")]
pub struct RequestRecordBody {
    /// Identifier.
    pub id: Uuid,
    /// When it finished.
    pub at: DateTime<Utc>,
    /// HTTP method.
    pub method: String,
    /// Route template (path parameters replaced).
    pub route: String,
    /// Response status.
    pub status: u16,
    /// Latency in microseconds.
    pub latency_us: u64,
    /// Client IP.
    pub client: String,
    /// Request id.
    pub request_id: Option<String>,
}

/// One page of request history.
#[derive(Debug, Clone, Object)]
#[oai(rename = "RequestRecordPage")]
pub struct RequestRecordPage {
    /// The records on this page.
    pub items: Vec<RequestRecordBody>,
    /// How many match in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u32,
    /// The offset asked for.
    pub offset: u64,
}

#[OpenApi(tag = "ApiTags::Metrics")]
impl MetricsApi {
    /// Every metric in the Prometheus text format (metrics:read)
    ///
    /// Request counts and latency histograms per route template, task transitions, external
    /// API attempts, rate-limit refusals; docs/operations.md lists the names.
    #[oai(path = "/metrics", method = "get", operation_id = "prometheus_metrics")]
    async fn prometheus(&self, auth: Auth) -> Result<PlainText<String>, ApiError> {
        auth.require(&self.identity, READ).await?;
        let handle = crate::prometheus::handle().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "another metrics recorder is installed in this process",
            )
        })?;
        Ok(PlainText(handle.render()))
    }

    /// Request history
    ///
    /// Newest first; health and metrics routes are not recorded. Filter by `method`, `route`
    /// (template), `status`, `client`, `since`, `until`; page with `limit` and `offset`.
    #[oai(
        path = "/api/metrics/requests",
        method = "get",
        operation_id = "request_history"
    )]
    #[allow(clippy::too_many_arguments)] // poem-openapi takes one argument per query parameter
    async fn requests(
        &self,
        auth: Auth,
        method: Query<Option<String>>,
        route: Query<Option<String>>,
        status: Query<Option<u16>>,
        client: Query<Option<String>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<RequestRecordPage>, ApiError> {
        auth.require(&self.identity, READ).await?;
        let page = PageRequest::new(limit.0, offset.0)?;
        let history = self.history.as_ref().ok_or_else(|| {
            Error::Unavailable("request history is off (TRAE_REQUEST_HISTORY_PERCENT=0)".into())
        })?;
        let filter = RequestFilter {
            method: method.0.map(|m| m.to_ascii_uppercase()),
            route: route.0,
            status: status.0,
            client: client.0,
            since: since.0,
            until: until.0,
        };
        let page = history.list(&filter, page).await?;
        Ok(Json(RequestRecordPage {
            total: page.total,
            limit: page.limit,
            offset: page.offset,
            items: page
                .items
                .into_iter()
                .map(|r| RequestRecordBody {
                    id: r.id,
                    at: r.at,
                    method: r.method,
                    route: r.route,
                    status: r.status,
                    latency_us: r.latency_us,
                    client: r.client,
                    request_id: r.request_id,
                })
                .collect(),
        }))
    }
}
