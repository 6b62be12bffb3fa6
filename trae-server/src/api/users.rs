//! `/api/users/me`: a signed-in user's own profile and password.

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_auth::{Identity, ProfileChange, RequestMeta};
use uuid::Uuid;

use super::ApiTags;
use super::json_body::JsonBody;
use crate::ApiError;
use crate::credentials::Auth;

/// A user (never a password hash or lockout counters).
#[derive(Debug, Clone, Object)]
#[oai(rename = "User")]
pub struct UserBody {
    /// Identifier.
    pub id: Uuid,
    /// Username, 3–32 characters of `[a-z0-9_.-]`.
    pub username: String,
    /// Email address.
    pub email: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Role names.
    pub roles: Vec<String>,
    /// Whether the user may sign in.
    pub is_active: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user was last changed.
    pub updated_at: DateTime<Utc>,
    /// When the user last signed in.
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<trae_core::User> for UserBody {
    fn from(u: trae_core::User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            full_name: u.full_name,
            roles: u.roles,
            is_active: u.is_active,
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// What a user may change about themselves; roles and status are not among it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ProfileChange", deny_unknown_fields)]
pub struct ProfileBody {
    /// A new email.
    pub email: Option<String>,
    /// A new display name; `null` clears it.
    pub full_name: MaybeUndefined<String>,
}

/// A password change.
#[derive(Clone, Object)]
#[oai(rename = "PasswordChange", deny_unknown_fields)]
pub struct PasswordBody {
    /// The current password.
    pub current_password: String,
    /// The new password: at least 10 characters, not containing the username, not common.
    pub new_password: String,
}

impl std::fmt::Debug for PasswordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordBody(***)")
    }
}

/// Done, nothing to return.
#[derive(Debug, ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// Turns an optional-or-null JSON field into "keep", "clear" or "set".
pub(crate) fn tri_state(field: MaybeUndefined<String>) -> Option<Option<String>> {
    match field {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// The `/api/users/me` router.
#[derive(Debug, Clone)]
pub struct UsersApi {
    identity: Identity,
}

impl UsersApi {
    /// A router over the identity services.
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }
}

#[OpenApi(tag = "ApiTags::Users")]
impl UsersApi {
    /// Your profile
    ///
    /// The signed-in user, as `GET /api/auth/me` answers it.
    #[oai(path = "/api/users/me", method = "get", operation_id = "get_me")]
    async fn get_me(&self, auth: Auth) -> Result<Json<UserBody>, ApiError> {
        Ok(Json(self.identity.users.me(auth.principal()).await?.into()))
    }

    /// Change your profile
    ///
    /// Email and display name only; a `roles` or `is_active` field is refused (422).
    #[oai(path = "/api/users/me", method = "patch", operation_id = "update_me")]
    async fn update_me(
        &self,
        auth: Auth,
        body: JsonBody<ProfileBody>,
        meta: poem::web::Data<&RequestMeta>,
    ) -> Result<Json<UserBody>, ApiError> {
        let change = ProfileChange {
            email: body.0.email,
            full_name: tri_state(body.0.full_name),
        };
        let user = self
            .identity
            .users
            .update_me(auth.principal(), change, &meta)
            .await?;
        Ok(Json(user.into()))
    }

    /// Change your password
    ///
    /// Ends every other session of yours; this one stays signed in.
    #[oai(
        path = "/api/users/me/password",
        method = "post",
        operation_id = "change_password"
    )]
    async fn change_password(
        &self,
        auth: Auth,
        body: JsonBody<PasswordBody>,
        meta: poem::web::Data<&RequestMeta>,
    ) -> Result<NoContent, ApiError> {
        self.identity
            .users
            .change_password(
                auth.principal(),
                &body.0.current_password,
                &body.0.new_password,
                &meta,
            )
            .await?;
        Ok(NoContent::Done)
    }
}
