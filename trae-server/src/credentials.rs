//! Credentials on the wire: the `Bearer` and `X-API-Key` security schemes the spec declares
//! (so Swagger UI's Authorize works), each resolved to a [`Principal`] by trae-auth.
//!
//! A handler takes [`Auth`] to require credentials and asks [`Auth::require`] for the one
//! permission it declares; the decision is trae-auth's.

use std::sync::Arc;

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};
use trae_auth::{Credential, Identity};
use trae_core::Principal;

use crate::ApiError;
use crate::request_context::PrincipalField;

/// An access token (JWT) from `/api/auth/login`, or an API key (`trae_…`).
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "Bearer",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "bearer_principal"
)]
pub struct BearerAuth(Principal);

/// An API key (`trae_…`) from `/api/auth/api-keys`.
#[derive(Debug, SecurityScheme)]
#[oai(
    rename = "ApiKey",
    ty = "api_key",
    key_in = "header",
    key_name = "X-API-Key",
    checker = "api_key_principal"
)]
pub struct ApiKeyAuth(Principal);

/// Either credential.
///
/// Tried in this order, and the last failure is the one reported: so a bearer credential
/// that fails because the database is down answers 503, not a misleading 401.
#[derive(Debug, SecurityScheme)]
pub enum Auth {
    /// `X-API-Key: …`.
    ApiKey(ApiKeyAuth),
    /// `Authorization: Bearer …`.
    Bearer(BearerAuth),
}

/// Credentials where they are optional: routes open to everyone that show more to callers
/// holding a permission. Missing or failing credentials are anonymous.
#[derive(Debug, SecurityScheme)]
pub enum OptionalAuth {
    /// `X-API-Key: …`.
    ApiKey(ApiKeyAuth),
    /// `Authorization: Bearer …`.
    Bearer(BearerAuth),
    /// No usable credentials.
    #[oai(fallback)]
    Anonymous,
}

impl OptionalAuth {
    /// The principal; anonymous callers are unauthenticated.
    pub fn signed_in(&self) -> Result<&Principal, ApiError> {
        self.principal().ok_or_else(|| {
            trae_core::Error::Unauthenticated(
                "credentials required: a Bearer token or an X-API-Key".into(),
            )
            .into()
        })
    }

    /// The principal, when the caller sent working credentials.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Self::ApiKey(ApiKeyAuth(p)) | Self::Bearer(BearerAuth(p)) => Some(p),
            Self::Anonymous => None,
        }
    }
}

fn identity(req: &Request) -> poem::Result<&Identity> {
    req.data::<Arc<Identity>>().map(Arc::as_ref).ok_or_else(|| {
        ApiError::from(trae_core::Error::Config("identity is not wired".into())).into()
    })
}

async fn bearer_principal(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let principal = identity(req)?
        .authenticate(Credential::Bearer(&bearer.token))
        .await
        .map_err(ApiError::from)?;
    log_principal(req, &principal);
    Ok(principal)
}

async fn api_key_principal(req: &Request, key: ApiKey) -> poem::Result<Principal> {
    let principal = identity(req)?
        .authenticate(Credential::ApiKey(&key.key))
        .await
        .map_err(ApiError::from)?;
    log_principal(req, &principal);
    Ok(principal)
}

/// Names the principal on the request's span, so the access line says who made the request.
fn log_principal(req: &Request, principal: &Principal) {
    if let Some(field) = req.data::<PrincipalField>() {
        field.record(principal);
    }
}

impl Auth {
    /// The authenticated principal.
    pub fn principal(&self) -> &Principal {
        match self {
            Self::Bearer(BearerAuth(p)) | Self::ApiKey(ApiKeyAuth(p)) => p,
        }
    }
}
