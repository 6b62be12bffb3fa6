//! Every error the API returns has one shape: `{"error": {"code", "message"}}`.
//!
//! Handlers return [`ApiError`] (built from `trae_core::Error`); [`render`] is the global
//! mapper that turns any other error (poem's 404 and 405, poem-openapi's parse errors, the body
//! limit) into the same shape.

use poem::http::StatusCode;
use poem::{Body, IntoResponse, Response};
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

/// The body of every error response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found` or `validation_failed`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

/// An error on its way to the client: a status, a code and a message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The body every error answers with: `{"error": {"code", "message"}}`.
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        })
    }

    fn to_response(&self) -> Response {
        let json = self.body_json();
        let mut builder = Response::builder()
            .status(self.status)
            .content_type("application/json; charset=utf-8");
        if self.status == StatusCode::UNAUTHORIZED {
            builder = builder.header("WWW-Authenticate", "Bearer");
        }
        if let Some(secs) = self.retry_after_secs {
            builder = builder.header("Retry-After", secs.to_string());
        }
        builder.body(Body::from_vec(json.to_string().into_bytes()))
    }
}

impl From<trae_core::Error> for ApiError {
    fn from(err: trae_core::Error) -> Self {
        use trae_core::Error as E;
        let status = match &err {
            E::NotFound { .. } => StatusCode::NOT_FOUND,
            // The request is sound; the budget it was given cannot pay for it.
            E::Validation { .. } | E::BudgetExceeded { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            E::Unavailable(_) | E::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            E::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            E::Upstream(_) | E::InvalidAnswer { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = if let E::Overloaded { message, .. } = &err {
            // Says what is full and that waiting helps; no internals in it.
            message.clone()
        } else if status == StatusCode::BAD_GATEWAY {
            // What the provider did wrong is the caller's to know; it holds no internals.
            err.to_string()
        } else if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            // Internal details go to the log, not to the client.
            tracing::error!(error = %err, "request failed");
            "internal error".to_owned()
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %err, "a dependency is unavailable");
            "a backing service is unavailable; try again shortly".to_owned()
        } else {
            err.to_string()
        };
        let retry_after_secs = match err {
            E::Locked { retry_after_secs }
            | E::Overloaded {
                retry_after_secs, ..
            } => Some(retry_after_secs),
            E::RateLimited { retry_after_ms, .. } => Some(retry_after_ms.div_ceil(1000).max(1)),
            _ => None,
        };
        Self {
            retry_after_secs,
            ..Self::new(status, err.code(), message)
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        self.to_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let statuses: [(u16, &'static str); 9] = [
            (400, "The request is malformed"),
            (
                401,
                "Missing or invalid credentials (with `WWW-Authenticate: Bearer`)",
            ),
            (403, "The credentials lack a permission this needs"),
            (404, "No such record"),
            (409, "The change conflicts with existing data"),
            (422, "The body or a parameter broke a rule"),
            (
                429,
                "Too many attempts; `Retry-After` says when to try again",
            ),
            (502, "Every upstream attempt failed (external API calls)"),
            (
                503,
                "A backing service is unavailable, or a task queue's backlog is full \
                 (`overloaded`, with `Retry-After`)",
            ),
        ];
        MetaResponses {
            responses: statuses
                .into_iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: MetaSchemaRef::Reference(ErrorBody::name().into_owned()),
                    }],
                    // Set with every 429 and with a 503 `overloaded`.
                    headers: if matches!(status, 429 | 503) {
                        vec![MetaHeader {
                            name: "Retry-After".to_owned(),
                            description: Some("Seconds to wait before trying again".to_owned()),
                            required: false,
                            deprecated: false,
                            schema: <u64 as Type>::schema_ref(),
                        }]
                    } else {
                        vec![]
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// The global error mapper: renders any error as the JSON error shape with a fitting code.
pub fn render(err: &poem::Error) -> Response {
    api_error_of(err).to_response()
}

fn api_error_of(err: &poem::Error) -> ApiError {
    use poem_openapi::error::{
        ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
    };
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("invalid request body: {}", e.reason),
        );
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid path parameter: {}", e.reason),
        );
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string());
    }
    if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            e.to_string(),
        );
    }
    let status = err.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no route matches this path".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this path does not support the method".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body exceeds the configured limit".to_owned(),
        ),
        StatusCode::UNAUTHORIZED => (
            "unauthorized",
            "missing or invalid credentials: send Authorization: Bearer <token> or X-API-Key"
                .to_owned(),
        ),
        StatusCode::FORBIDDEN => ("forbidden", err.to_string()),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", err.to_string()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", err.to_string()),
        s if s.is_client_error() => ("bad_request", err.to_string()),
        _ => {
            tracing::error!(error = %err, "unhandled error");
            ("internal", "internal error".to_owned())
        }
    };
    ApiError::new(status, code, message)
}

impl From<trae_agents::AgentError> for ApiError {
    fn from(err: trae_agents::AgentError) -> Self {
        use trae_agents::AgentError as E;
        match err {
            E::Core(e) => e.into(),
            E::Invalid { field, message } => trae_core::Error::Validation { field, message }.into(),
            E::NotFound(message) => Self::new(StatusCode::NOT_FOUND, "not_found", message),
            E::Limited {
                message,
                retry_after,
            } => Self {
                retry_after_secs: Some(retry_after.as_secs_f64().ceil().max(1.0) as u64),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            E::Sandbox(message) => {
                tracing::error!(%message, "sandbox failure");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "sandbox_failed", message)
            }
            other @ (E::Upstream(_)
            | E::Refused(_)
            | E::Timeout(_)
            | E::Transport(_)
            | E::Connect(_)
            | E::Config(_)) => Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream_failed",
                other.to_string(),
            ),
        }
    }
}
