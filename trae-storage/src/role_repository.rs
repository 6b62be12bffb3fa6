//! [`RoleRepository`] on SQLite and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use trae_core::identity::permission::{Role, RoleRepository};
use trae_core::{Error, Permission, Result};

use crate::entity::{role, role_permission, user_role};
use crate::error::db_error;
use crate::fetch::fetch_unique;

/// Roles in the `roles` and `role_permissions` tables.
#[derive(Debug, Clone)]
pub struct SqlRoleRepository {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
}

impl SqlRoleRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: DatabaseConnection, reader: DatabaseConnection) -> Self {
        Self { writer, reader }
    }
}

async fn grants_of(db: &impl ConnectionTrait, name: &str) -> Result<BTreeSet<Permission>> {
    role_permission::Entity::find()
        .filter(role_permission::Column::Role.eq(name))
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| row.permission.parse())
        .collect()
}

async fn read_role(db: &impl ConnectionTrait, name: &str) -> Result<Option<Role>> {
    let Some(row) = fetch_unique(role::Entity::find_by_id(name.to_owned()), db).await? else {
        return Ok(None);
    };
    Ok(Some(Role {
        permissions: grants_of(db, name).await?,
        name: row.name,
        description: row.description,
        built_in: row.built_in,
    }))
}

async fn grant(
    db: &impl ConnectionTrait,
    name: &str,
    permissions: &BTreeSet<Permission>,
) -> Result<()> {
    if permissions.is_empty() {
        return Ok(());
    }
    role_permission::Entity::insert_many(permissions.iter().map(|p| {
        role_permission::ActiveModel {
            role: ActiveValue::Set(name.to_owned()),
            permission: ActiveValue::Set(p.as_str().to_owned()),
        }
    }))
    .exec_without_returning(db)
    .await
    .map_err(db_error)?;
    Ok(())
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

    async fn get(&self, name: &str) -> Result<Option<Role>> {
        read_role(&self.reader, name).await
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

    async fn create(&self, r: &Role) -> Result<()> {
        let txn = crate::sql_pools::begin_write(&self.writer)
            .await
            .map_err(db_error)?;
        role::Entity::insert(role::ActiveModel {
            name: ActiveValue::Set(r.name.clone()),
            description: ActiveValue::Set(r.description.clone()),
            built_in: ActiveValue::Set(r.built_in),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(|e| match db_error(e) {
            Error::Conflict(_) => Error::Conflict(format!("a role named {:?} exists", r.name)),
            other => other,
        })?;
        grant(&txn, &r.name, &r.permissions).await?;
        txn.commit().await.map_err(db_error)
    }

    async fn update(
        &self,
        name: &str,
        description: Option<&str>,
        permissions: Option<&BTreeSet<Permission>>,
    ) -> Result<Role> {
        let txn = crate::sql_pools::begin_write(&self.writer)
            .await
            .map_err(db_error)?;
        let result = role::Entity::update_many()
            .col_expr(
                role::Column::Description,
                match description {
                    Some(d) => Expr::value(d.to_owned()),
                    None => Expr::col(role::Column::Description),
                },
            )
            .filter(role::Column::Name.eq(name))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if result.rows_affected != 1 {
            return Err(Error::not_found("role", name));
        }
        if let Some(permissions) = permissions {
            role_permission::Entity::delete_many()
                .filter(role_permission::Column::Role.eq(name))
                .exec(&txn)
                .await
                .map_err(db_error)?;
            grant(&txn, name, permissions).await?;
        }
        let role = read_role(&txn, name)
            .await?
            .ok_or_else(|| Error::not_found("role", name))?;
        txn.commit().await.map_err(db_error)?;
        Ok(role)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let txn = crate::sql_pools::begin_write(&self.writer)
            .await
            .map_err(db_error)?;
        let holders = user_role::Entity::find()
            .filter(user_role::Column::Role.eq(name))
            .count(&txn)
            .await
            .map_err(db_error)?;
        if holders > 0 {
            return Err(Error::Conflict(format!(
                "{holders} user(s) hold the role {name:?}; take it from them first"
            )));
        }
        let result = role::Entity::delete_by_id(name.to_owned())
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if result.rows_affected != 1 {
            return Err(Error::not_found("role", name));
        }
        txn.commit().await.map_err(db_error)
    }
}
