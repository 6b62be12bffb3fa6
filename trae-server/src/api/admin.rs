//! `/api/admin/users`: user administration (`users:admin`).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use trae_auth::{AdminChange, Identity, Registration, RequestMeta};
use trae_core::{PageRequest, UserFilter};
use uuid::Uuid;

use super::ApiTags;
use super::auth::UserCreated;
use super::json_body::JsonBody;
use super::page::Page;
use super::users::{NoContent, UserBody, tri_state};
use crate::ApiError;
use crate::credentials::Auth;

/// Changes to a user; absent fields keep their value.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AdminUserChange", deny_unknown_fields)]
pub struct AdminChangeBody {
    /// A new email.
    pub email: Option<String>,
    /// A new display name; `null` clears it.
    pub full_name: MaybeUndefined<String>,
    /// The complete new set of roles; you must hold every permission they grant.
    pub roles: Option<Vec<String>>,
    /// Activate, or deactivate (which ends their sessions and revokes their keys).
    pub is_active: Option<bool>,
    /// `true` clears failed logins and any lock.
    #[oai(default)]
    pub unlock: bool,
}

/// A user an administrator creates.
#[derive(Clone, Object)]
#[oai(rename = "AdminNewUser", deny_unknown_fields)]
pub struct AdminNewUserBody {
    /// 3–32 characters of `[a-z0-9_.-]`.
    pub username: String,
    /// Email address.
    pub email: String,
    /// Initial password (the password rules apply).
    pub password: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Roles; you must hold every permission they grant.
    pub roles: Vec<String>,
}

impl std::fmt::Debug for AdminNewUserBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminNewUserBody")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How many sessions ended.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SessionsRevoked")]
pub struct RevokedBody {
    /// Sessions ended.
    pub sessions_ended: u64,
}

/// The `/api/admin` router.
#[derive(Debug, Clone)]
pub struct AdminApi {
    identity: Identity,
}

impl AdminApi {
    /// A router over the identity services.
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminApi {
    /// List users
    ///
    /// By username. `query` matches part of a username or email; filter by `role` and
    /// `is_active`.
    #[oai(
        path = "/api/admin/users",
        method = "get",
        operation_id = "admin_list_users"
    )]
    async fn list(
        &self,
        auth: Auth,
        query: Query<Option<String>>,
        role: Query<Option<String>>,
        is_active: Query<Option<bool>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<UserBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = UserFilter {
            query: query.0,
            role: role.0,
            is_active: is_active.0,
        };
        let users = self
            .identity
            .users
            .list(auth.principal(), &filter, page)
            .await?;
        Ok(Json(users.into()))
    }

    /// Create a user
    #[oai(
        path = "/api/admin/users",
        method = "post",
        operation_id = "admin_create_user"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: JsonBody<AdminNewUserBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<UserCreated, ApiError> {
        let b = body.0;
        let user = self
            .identity
            .users
            .create(
                auth.principal(),
                Registration {
                    username: b.username,
                    email: b.email,
                    password: b.password,
                    full_name: b.full_name,
                },
                b.roles,
                &meta,
            )
            .await?;
        Ok(UserCreated::Created(Json(user.into())))
    }

    /// Get a user
    #[oai(
        path = "/api/admin/users/:id",
        method = "get",
        operation_id = "admin_get_user"
    )]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<UserBody>, ApiError> {
        let user = self.identity.users.get(auth.principal(), id.0).await?;
        Ok(Json(user.into()))
    }

    /// Change a user
    ///
    /// Roles, status, unlock, email, name. The last active admin cannot be demoted or
    /// deactivated (409).
    #[oai(
        path = "/api/admin/users/:id",
        method = "patch",
        operation_id = "admin_update_user"
    )]
    async fn update(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<AdminChangeBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<Json<UserBody>, ApiError> {
        let b = body.0;
        let change = AdminChange {
            email: b.email,
            full_name: tri_state(b.full_name),
            roles: b.roles,
            is_active: b.is_active,
            unlock: b.unlock,
        };
        let user = self
            .identity
            .users
            .update(auth.principal(), id.0, change, &meta)
            .await?;
        Ok(Json(user.into()))
    }

    /// Delete a user
    ///
    /// With their sessions and keys. The last active admin cannot be deleted (409).
    #[oai(
        path = "/api/admin/users/:id",
        method = "delete",
        operation_id = "admin_delete_user"
    )]
    async fn delete(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        meta: Data<&RequestMeta>,
    ) -> Result<NoContent, ApiError> {
        self.identity
            .users
            .delete(auth.principal(), id.0, &meta)
            .await?;
        Ok(NoContent::Done)
    }

    /// End every session of a user
    #[oai(
        path = "/api/admin/users/:id/revoke-sessions",
        method = "post",
        operation_id = "admin_revoke_sessions"
    )]
    async fn revoke_sessions(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        meta: Data<&RequestMeta>,
    ) -> Result<Json<RevokedBody>, ApiError> {
        let sessions_ended = self
            .identity
            .users
            .revoke_sessions(auth.principal(), id.0, &meta)
            .await?;
        Ok(Json(RevokedBody { sessions_ended }))
    }
}
