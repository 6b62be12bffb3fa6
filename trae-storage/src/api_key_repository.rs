//! [`ApiKeyRepository`] on SQLite and PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use trae_core::{ApiKey, ApiKeyRepository, Error, Result};
use uuid::Uuid;

use crate::entity::api_key;
use crate::error::db_error;
use crate::fetch::fetch_unique;

/// API keys in the `api_keys` table.
#[derive(Debug, Clone)]
pub struct SqlApiKeyRepository {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
}

impl SqlApiKeyRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: DatabaseConnection, reader: DatabaseConnection) -> Self {
        Self { writer, reader }
    }
}

fn from_model(m: api_key::Model) -> Result<ApiKey> {
    let scopes = serde_json::from_value(m.scopes)
        .map_err(|e| Error::Storage(format!("api key {} has malformed scopes: {e}", m.id)))?;
    Ok(ApiKey {
        id: m.id,
        owner_id: m.owner_id,
        name: m.name,
        prefix: m.prefix,
        scopes,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
    })
}

#[async_trait]
impl ApiKeyRepository for SqlApiKeyRepository {
    async fn insert(&self, key: &ApiKey, hash: &str) -> Result<()> {
        api_key::Entity::insert(api_key::ActiveModel {
            id: ActiveValue::Set(key.id),
            owner_id: ActiveValue::Set(key.owner_id),
            name: ActiveValue::Set(key.name.clone()),
            prefix: ActiveValue::Set(key.prefix.clone()),
            hash: ActiveValue::Set(hash.to_owned()),
            scopes: ActiveValue::Set(serde_json::json!(key.scopes)),
            created_at: ActiveValue::Set(key.created_at),
            last_used_at: ActiveValue::Set(key.last_used_at),
            expires_at: ActiveValue::Set(key.expires_at),
            revoked_at: ActiveValue::Set(key.revoked_at),
        })
        .exec_without_returning(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn list_for_owner(&self, owner_id: Uuid) -> Result<Vec<ApiKey>> {
        api_key::Entity::find()
            .filter(api_key::Column::OwnerId.eq(owner_id))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.reader)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(from_model)
            .collect()
    }

    async fn find_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        fetch_unique(
            api_key::Entity::find().filter(api_key::Column::Hash.eq(hash)),
            &self.reader,
        )
        .await?
        .map(from_model)
        .transpose()
    }

    async fn revoke(&self, id: Uuid, owner_id: Uuid, now: DateTime<Utc>) -> Result<bool> {
        let result = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now)))
            .filter(api_key::Column::Id.eq(id))
            .filter(api_key::Column::OwnerId.eq(owner_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_all_for_owner(&self, owner_id: Uuid, now: DateTime<Utc>) -> Result<u64> {
        Ok(api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now)))
            .filter(api_key::Column::OwnerId.eq(owner_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(db_error)?
            .rows_affected)
    }

    async fn touch(&self, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(api_key::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
