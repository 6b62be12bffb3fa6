//! [`SessionRepository`] on SQLite and PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use trae_core::{RefreshTokenRecord, Result, Rotation, Session, SessionRepository};
use uuid::Uuid;

use crate::entity::{refresh_token, session};
use crate::error::db_error;
use crate::fetch::fetch_unique;

/// Sessions and refresh tokens in the `sessions` and `refresh_tokens` tables.
#[derive(Debug, Clone)]
pub struct SqlSessionRepository {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
}

impl SqlSessionRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: DatabaseConnection, reader: DatabaseConnection) -> Self {
        Self { writer, reader }
    }
}

fn to_session(m: session::Model) -> Session {
    Session {
        id: m.id,
        user_id: m.user_id,
        created_at: m.created_at,
        revoked_at: m.revoked_at,
        revoked_reason: m.revoked_reason,
        // Only a row written before the expiry column had none; treat it as ended.
        expires_at: m.expires_at.unwrap_or(m.created_at),
    }
}

fn token_row(t: &RefreshTokenRecord) -> refresh_token::ActiveModel {
    refresh_token::ActiveModel {
        hash: ActiveValue::Set(t.hash.clone()),
        session_id: ActiveValue::Set(t.session_id),
        issued_at: ActiveValue::Set(t.issued_at),
        expires_at: ActiveValue::Set(t.expires_at),
        used_at: ActiveValue::Set(t.used_at),
    }
}

#[async_trait]
impl SessionRepository for SqlSessionRepository {
    async fn create(&self, s: &Session, first: &RefreshTokenRecord) -> Result<()> {
        let txn = crate::sql_pools::begin_write(&self.writer)
            .await
            .map_err(db_error)?;
        session::Entity::insert(session::ActiveModel {
            id: ActiveValue::Set(s.id),
            user_id: ActiveValue::Set(s.user_id),
            created_at: ActiveValue::Set(s.created_at),
            revoked_at: ActiveValue::Set(s.revoked_at),
            revoked_reason: ActiveValue::Set(s.revoked_reason.clone()),
            expires_at: ActiveValue::Set(Some(s.expires_at)),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(db_error)?;
        refresh_token::Entity::insert(token_row(first))
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }

    async fn get(&self, id: Uuid) -> Result<Option<Session>> {
        Ok(fetch_unique(session::Entity::find_by_id(id), &self.reader)
            .await?
            .map(to_session))
    }

    async fn find_refresh(&self, hash: &str) -> Result<Option<(RefreshTokenRecord, Session)>> {
        // Read through the writer: a refresh must see the rotation that just happened.
        let Some(token) = fetch_unique(
            refresh_token::Entity::find_by_id(hash.to_owned()),
            &self.writer,
        )
        .await?
        else {
            return Ok(None);
        };
        let Some(session) =
            fetch_unique(session::Entity::find_by_id(token.session_id), &self.writer).await?
        else {
            return Ok(None);
        };
        Ok(Some((
            RefreshTokenRecord {
                hash: token.hash,
                session_id: token.session_id,
                issued_at: token.issued_at,
                expires_at: token.expires_at,
                used_at: token.used_at,
            },
            to_session(session),
        )))
    }

    async fn rotate(
        &self,
        hash: &str,
        next: &RefreshTokenRecord,
        now: DateTime<Utc>,
    ) -> Result<Rotation> {
        let txn = crate::sql_pools::begin_write(&self.writer)
            .await
            .map_err(db_error)?;
        // The conditional update is the guard: of two concurrent exchanges only one marks the
        // token used.
        let marked = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(Some(now)))
            .filter(refresh_token::Column::Hash.eq(hash))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if marked.rows_affected != 1 {
            txn.rollback().await.map_err(db_error)?;
            return Ok(Rotation::AlreadyUsed);
        }
        refresh_token::Entity::insert(token_row(next))
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(Rotation::Rotated)
    }

    async fn revoke(&self, id: Uuid, now: DateTime<Utc>, reason: &str) -> Result<bool> {
        let result = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
            .col_expr(
                session::Column::RevokedReason,
                Expr::value(Some(reason.to_owned())),
            )
            .filter(session::Column::Id.eq(id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_all_for_user(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64> {
        let mut update = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Some(now)))
            .col_expr(
                session::Column::RevokedReason,
                Expr::value(Some(reason.to_owned())),
            )
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            update = update.filter(session::Column::Id.ne(keep));
        }
        Ok(update
            .exec(&self.writer)
            .await
            .map_err(db_error)?
            .rows_affected)
    }
}
