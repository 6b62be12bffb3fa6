//! [`UserRepository`] on SQLite and PostgreSQL: users and their role assignments.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use trae_core::lockout::LoginState;
use trae_core::{Error, Result, StoredUser, User, UserRepository};
use uuid::Uuid;

use crate::entity::{role, user, user_role};
use crate::error::db_error;
use crate::fetch::fetch_unique;

/// Users stored in the `users` and `user_roles` tables.
#[derive(Debug, Clone)]
pub struct SqlUserRepository {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
}

impl SqlUserRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: DatabaseConnection, reader: DatabaseConnection) -> Self {
        Self { writer, reader }
    }

    async fn with_roles(
        &self,
        db: &impl ConnectionTrait,
        model: Option<user::Model>,
    ) -> Result<Option<StoredUser>> {
        let Some(m) = model else { return Ok(None) };
        let roles = user_role::Entity::find()
            .filter(user_role::Column::UserId.eq(m.id))
            .order_by_asc(user_role::Column::Role)
            .all(db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|r| r.role)
            .collect();
        Ok(Some(StoredUser {
            login: LoginState {
                failed_logins: u32::try_from(m.failed_logins).unwrap_or(0),
                window_started_at: m.failure_window_started_at,
                locked_until: m.locked_until,
            },
            login_version: m.login_version,
            password_hash: m.password_hash,
            user: User {
                id: m.id,
                username: m.username,
                email: m.email,
                full_name: m.full_name,
                roles,
                is_active: m.is_active,
                created_at: m.created_at,
                updated_at: m.updated_at,
                last_login_at: m.last_login_at,
            },
        }))
    }
}

/// Turns a unique-index violation into a message that names the taken field.
fn taken(err: Error) -> Error {
    match err {
        Error::Conflict(m) if m.contains("email") => {
            Error::Conflict("a user with this email already exists".into())
        }
        Error::Conflict(m) if m.contains("username") => {
            Error::Conflict("a user with this username already exists".into())
        }
        other => other,
    }
}

#[async_trait]
impl UserRepository for SqlUserRepository {
    async fn insert(&self, u: &User, password_hash: &str) -> Result<()> {
        let txn = self.writer.begin().await.map_err(db_error)?;
        let known: Vec<String> = role::Entity::find()
            .filter(role::Column::Name.is_in(u.roles.iter().map(String::as_str)))
            .all(&txn)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|r| r.name)
            .collect();
        if let Some(missing) = u.roles.iter().find(|r| !known.contains(r)) {
            return Err(Error::validation(
                "roles",
                format!("no role named {missing:?}"),
            ));
        }
        let row = user::ActiveModel {
            id: ActiveValue::Set(u.id),
            username: ActiveValue::Set(u.username.clone()),
            email: ActiveValue::Set(u.email.clone()),
            full_name: ActiveValue::Set(u.full_name.clone()),
            is_active: ActiveValue::Set(u.is_active),
            password_hash: ActiveValue::Set(password_hash.to_owned()),
            failed_logins: ActiveValue::Set(0),
            failure_window_started_at: ActiveValue::Set(None),
            locked_until: ActiveValue::Set(None),
            login_version: ActiveValue::Set(0),
            created_at: ActiveValue::Set(u.created_at),
            updated_at: ActiveValue::Set(u.updated_at),
            last_login_at: ActiveValue::Set(u.last_login_at),
        };
        user::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|e| taken(db_error(e)))?;
        if !u.roles.is_empty() {
            let assignments = u.roles.iter().map(|r| user_role::ActiveModel {
                user_id: ActiveValue::Set(u.id),
                role: ActiveValue::Set(r.clone()),
            });
            user_role::Entity::insert_many(assignments)
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
        }
        txn.commit().await.map_err(db_error)
    }

    async fn get(&self, id: Uuid) -> Result<Option<StoredUser>> {
        let model = fetch_unique(user::Entity::find_by_id(id), &self.reader).await?;
        self.with_roles(&self.reader, model).await
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<StoredUser>> {
        let model = fetch_unique(
            user::Entity::find().filter(
                user::Column::Username
                    .eq(login)
                    .or(user::Column::Email.eq(login)),
            ),
            &self.reader,
        )
        .await?;
        self.with_roles(&self.reader, model).await
    }

    async fn swap_login_state(
        &self,
        id: Uuid,
        expected_version: i64,
        state: &LoginState,
    ) -> Result<bool> {
        let result = user::Entity::update_many()
            .col_expr(
                user::Column::FailedLogins,
                Expr::value(i32::try_from(state.failed_logins).unwrap_or(i32::MAX)),
            )
            .col_expr(
                user::Column::FailureWindowStartedAt,
                Expr::value(state.window_started_at),
            )
            .col_expr(user::Column::LockedUntil, Expr::value(state.locked_until))
            .col_expr(
                user::Column::LoginVersion,
                Expr::value(expected_version + 1),
            )
            .filter(user::Column::Id.eq(id))
            .filter(user::Column::LoginVersion.eq(expected_version))
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn record_login(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        new_hash: Option<&str>,
    ) -> Result<()> {
        let mut update = user::Entity::update_many()
            .col_expr(user::Column::FailedLogins, Expr::value(0))
            .col_expr(
                user::Column::FailureWindowStartedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                user::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                user::Column::LoginVersion,
                Expr::col(user::Column::LoginVersion).add(1),
            )
            .col_expr(user::Column::LastLoginAt, Expr::value(Some(at)));
        if let Some(hash) = new_hash {
            update = update.col_expr(user::Column::PasswordHash, Expr::value(hash));
        }
        let result = update
            .filter(user::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        if result.rows_affected == 1 {
            Ok(())
        } else {
            Err(Error::not_found("user", id))
        }
    }

    async fn set_password(&self, id: Uuid, hash: &str, at: DateTime<Utc>) -> Result<()> {
        let result = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .col_expr(user::Column::UpdatedAt, Expr::value(at))
            .filter(user::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        if result.rows_affected == 1 {
            Ok(())
        } else {
            Err(Error::not_found("user", id))
        }
    }
}
