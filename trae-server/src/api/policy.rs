//! `/api/policy`: roles and permissions (`policy:admin`).

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_auth::{Identity, NewRole, RequestMeta, RolePatch};

use super::ApiTags;
use super::json_body::JsonBody;
use super::users::NoContent;
use crate::ApiError;
use crate::credentials::Auth;

/// A role.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Role")]
pub struct RoleBody {
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Whether trae defines it (built-in roles cannot be changed or deleted).
    pub built_in: bool,
    /// What it grants (`admin` lists none: it holds every permission).
    pub permissions: Vec<String>,
}

impl From<trae_core::identity::permission::Role> for RoleBody {
    fn from(r: trae_core::identity::permission::Role) -> Self {
        Self {
            name: r.name,
            description: r.description,
            built_in: r.built_in,
            permissions: r.permissions.into_iter().map(String::from).collect(),
        }
    }
}

/// Every role.
#[derive(Debug, Clone, Object)]
#[oai(rename = "RoleList")]
pub struct RoleList {
    /// The roles, by name.
    pub items: Vec<RoleBody>,
    /// How many.
    pub total: u64,
}

/// Every permission trae checks.
#[derive(Debug, Clone, Object)]
#[oai(rename = "PermissionList")]
pub struct PermissionList {
    /// `resource:action` names.
    pub items: Vec<String>,
    /// How many.
    pub total: u64,
}

/// A custom role to create.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewRole", deny_unknown_fields)]
pub struct NewRoleBody {
    /// 2–32 characters of `[a-z0-9_-]`, starting with a letter.
    pub name: String,
    /// What it is for.
    #[oai(default)]
    pub description: String,
    /// Permissions it grants, from `/api/policy/permissions`; each one you hold.
    #[oai(default)]
    pub permissions: Vec<String>,
}

/// Changes to a custom role.
#[derive(Debug, Clone, Object)]
#[oai(rename = "RolePatch", deny_unknown_fields)]
pub struct RolePatchBody {
    /// A new description.
    pub description: Option<String>,
    /// The complete new set of permissions.
    pub permissions: Option<Vec<String>>,
}

/// A created role.
#[derive(Debug, ApiResponse)]
pub enum RoleCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<RoleBody>),
}

/// The `/api/policy` router.
#[derive(Debug, Clone)]
pub struct PolicyApi {
    identity: Identity,
}

impl PolicyApi {
    /// A router over the identity services.
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }
}

#[OpenApi(tag = "ApiTags::Policy")]
impl PolicyApi {
    /// List roles
    #[oai(
        path = "/api/policy/roles",
        method = "get",
        operation_id = "list_roles"
    )]
    async fn roles(&self, auth: Auth) -> Result<Json<RoleList>, ApiError> {
        let roles = self.identity.policy.roles(auth.principal()).await?;
        Ok(Json(RoleList {
            total: roles.len() as u64,
            items: roles.into_iter().map(Into::into).collect(),
        }))
    }

    /// Create a custom role
    #[oai(
        path = "/api/policy/roles",
        method = "post",
        operation_id = "create_role"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: JsonBody<NewRoleBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<RoleCreated, ApiError> {
        let b = body.0;
        let role = self
            .identity
            .policy
            .create_role(
                auth.principal(),
                NewRole {
                    name: b.name,
                    description: b.description,
                    permissions: b.permissions,
                },
                &meta,
            )
            .await?;
        Ok(RoleCreated::Created(Json(role.into())))
    }

    /// Get a role
    #[oai(
        path = "/api/policy/roles/:name",
        method = "get",
        operation_id = "get_role"
    )]
    async fn get(&self, auth: Auth, name: Path<String>) -> Result<Json<RoleBody>, ApiError> {
        let role = self.identity.policy.role(auth.principal(), &name.0).await?;
        Ok(Json(role.into()))
    }

    /// Change a custom role
    ///
    /// Built-in roles cannot be changed (409).
    #[oai(
        path = "/api/policy/roles/:name",
        method = "patch",
        operation_id = "update_role"
    )]
    async fn update(
        &self,
        auth: Auth,
        name: Path<String>,
        body: JsonBody<RolePatchBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<Json<RoleBody>, ApiError> {
        let patch = RolePatch {
            description: body.0.description,
            permissions: body.0.permissions,
        };
        let role = self
            .identity
            .policy
            .update_role(auth.principal(), &name.0, patch, &meta)
            .await?;
        Ok(Json(role.into()))
    }

    /// Delete a custom role
    ///
    /// Refused (409) for built-in roles and while any user holds the role.
    #[oai(
        path = "/api/policy/roles/:name",
        method = "delete",
        operation_id = "delete_role"
    )]
    async fn delete(
        &self,
        auth: Auth,
        name: Path<String>,
        meta: Data<&RequestMeta>,
    ) -> Result<NoContent, ApiError> {
        self.identity
            .policy
            .delete_role(auth.principal(), &name.0, &meta)
            .await?;
        Ok(NoContent::Done)
    }

    /// List permissions
    #[oai(
        path = "/api/policy/permissions",
        method = "get",
        operation_id = "list_permissions"
    )]
    async fn permissions(&self, auth: Auth) -> Result<Json<PermissionList>, ApiError> {
        let items: Vec<String> = self
            .identity
            .policy
            .permissions(auth.principal())
            .await?
            .into_iter()
            .map(String::from)
            .collect();
        Ok(Json(PermissionList {
            total: items.len() as u64,
            items,
        }))
    }
}
