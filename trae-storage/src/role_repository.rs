//! [`RoleRepository`] on SQLite and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use trae_core::permission::{Role, RoleRepository};
use trae_core::{Permission, Result};

use crate::entity::{role, role_permission};
use crate::error::db_error;

/// Roles in the `roles` and `role_permissions` tables.
#[derive(Debug, Clone)]
pub struct SqlRoleRepository {
    reader: DatabaseConnection,
}

impl SqlRoleRepository {
    /// A repository reading through `reader`.
    pub fn new(reader: DatabaseConnection) -> Self {
        Self { reader }
    }
}

#[async_trait]
impl RoleRepository for SqlRoleRepository {
    async fn list(&self) -> Result<Vec<Role>> {
        let roles = role::Entity::find()
            .order_by_asc(role::Column::Name)
            .all(&self.reader)
            .await
            .map_err(db_error)?;
        let mut grants: BTreeMap<String, BTreeSet<Permission>> = BTreeMap::new();
        for row in role_permission::Entity::find()
            .all(&self.reader)
            .await
            .map_err(db_error)?
        {
            grants
                .entry(row.role)
                .or_default()
                .insert(row.permission.parse()?);
        }
        Ok(roles
            .into_iter()
            .map(|r| Role {
                permissions: grants.remove(&r.name).unwrap_or_default(),
                name: r.name,
                description: r.description,
                built_in: r.built_in,
            })
            .collect())
    }

    async fn permissions_of(&self, names: &[String]) -> Result<BTreeSet<Permission>> {
        if names.is_empty() {
            return Ok(BTreeSet::new());
        }
        role_permission::Entity::find()
            .filter(role_permission::Column::Role.is_in(names.iter().map(String::as_str)))
            .all(&self.reader)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| row.permission.parse())
            .collect()
    }
}
