//! [`UserRepository`] on SQLite and PostgreSQL: users and their role assignments.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, UpdateMany,
};
use trae_core::identity::lockout::LoginState;
use trae_core::identity::permission::ADMIN_ROLE;
use trae_core::identity::user::last_admin_error;
use trae_core::{
    Error, Page, PageRequest, Result, StoredUser, User, UserChange, UserFilter, UserRepository,
};
use uuid::Uuid;

use crate::entity::{role, user, user_role};
use crate::error::db_error;
use crate::fetch::{fetch_page, fetch_unique};

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
        with_roles(db, model).await
    }
}

async fn roles_of(db: &impl ConnectionTrait, id: Uuid) -> Result<Vec<String>> {
    Ok(user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(id))
        .order_by_asc(user_role::Column::Role)
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|r| r.role)
        .collect())
}

async fn with_roles(
    db: &impl ConnectionTrait,
    model: Option<user::Model>,
) -> Result<Option<StoredUser>> {
    let Some(m) = model else { return Ok(None) };
    let roles = roles_of(db, m.id).await?;
    Ok(Some(stored(m, roles)))
}

fn stored(m: user::Model, roles: Vec<String>) -> StoredUser {
    {
        StoredUser {
            login: LoginState {
                failed_logins: u32::try_from(m.failed_logins).unwrap_or(0),
                window_started_at: m.failure_window_started_at,
                locked_until: m.locked_until,
                // A value this code did not write counts as no per-address failures; the
                // account-wide count still holds.
                by_address: m
                    .failed_login_addresses
                    .as_deref()
                    .and_then(|json| serde_json::from_str(json).ok())
                    .unwrap_or_default(),
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
        }
    }
}

/// The per-address failure counts as stored: JSON, or none when there are none.
fn addresses_json(state: &LoginState) -> Result<Option<String>> {
    if state.by_address.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(&state.by_address)
        .map(Some)
        .map_err(|e| Error::Storage(format!("cannot encode login failures: {e}")))
}

/// Sets the failed-login bookkeeping back to none, bumping its version.
fn cleared_login(update: UpdateMany<user::Entity>) -> UpdateMany<user::Entity> {
    update
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
            user::Column::FailedLoginAddresses,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            user::Column::LoginVersion,
            Expr::col(user::Column::LoginVersion).add(1),
        )
}

/// Users holding `role`, as a subquery condition.
fn holds_role(role: &str) -> Condition {
    Condition::all().add(
        Expr::col((user::Entity, user::Column::Id)).in_subquery(
            Query::select()
                .column(user_role::Column::UserId)
                .from(user_role::Entity)
                .and_where(Expr::col(user_role::Column::Role).eq(role))
                .to_owned(),
        ),
    )
}

/// `%text%` for LIKE, with the wildcards in `text` taken literally.
fn contains_pattern(text: &str) -> LikeExpr {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

/// Makes the transaction the only one changing admins: the row lock on the `admin` role
/// serialises every guarded change on PostgreSQL, and the write takes SQLite's write lock.
async fn lock_admins(txn: &impl ConnectionTrait) -> Result<()> {
    role::Entity::update_many()
        .col_expr(role::Column::BuiltIn, Expr::col(role::Column::BuiltIn))
        .filter(role::Column::Name.eq(ADMIN_ROLE))
        .exec(txn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Active admins other than `except`.
async fn other_active_admins(txn: &impl ConnectionTrait, except: Uuid) -> Result<u64> {
    user::Entity::find()
        .filter(user::Column::IsActive.eq(true))
        .filter(user::Column::Id.ne(except))
        .filter(holds_role(ADMIN_ROLE))
        .count(txn)
        .await
        .map_err(db_error)
}

async fn check_roles_exist(txn: &impl ConnectionTrait, roles: &[String]) -> Result<()> {
    let known: Vec<String> = role::Entity::find()
        .filter(role::Column::Name.is_in(roles.iter().map(String::as_str)))
        .all(txn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|r| r.name)
        .collect();
    match roles.iter().find(|r| !known.contains(r)) {
        Some(missing) => Err(Error::validation(
            "roles",
            format!("no role named {missing:?}"),
        )),
        None => Ok(()),
    }
}

async fn assign_roles(txn: &impl ConnectionTrait, id: Uuid, roles: &[String]) -> Result<()> {
    if roles.is_empty() {
        return Ok(());
    }
    let assignments = roles.iter().map(|r| user_role::ActiveModel {
        user_id: ActiveValue::Set(id),
        role: ActiveValue::Set(r.clone()),
    });
    user_role::Entity::insert_many(assignments)
        .exec_without_returning(txn)
        .await
        .map_err(db_error)?;
    Ok(())
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
        let txn = crate::sql_pools::begin_write(&self.writer)
            .await
            .map_err(db_error)?;
        check_roles_exist(&txn, &u.roles).await?;
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
            failed_login_addresses: ActiveValue::Set(None),
            created_at: ActiveValue::Set(u.created_at),
            updated_at: ActiveValue::Set(u.updated_at),
            last_login_at: ActiveValue::Set(u.last_login_at),
        };
        user::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(|e| taken(db_error(e)))?;
        assign_roles(&txn, u.id, &u.roles).await?;
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
                user::Column::FailedLoginAddresses,
                Expr::value(addresses_json(state)?),
            )
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
        let mut update = cleared_login(user::Entity::update_many())
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

    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>> {
        let mut condition = Condition::all();
        if let Some(q) = filter
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            let q = q.to_lowercase();
            condition = condition.add(
                Condition::any()
                    .add(
                        Expr::col((user::Entity, user::Column::Username))
                            .like(contains_pattern(&q)),
                    )
                    .add(Expr::col((user::Entity, user::Column::Email)).like(contains_pattern(&q))),
            );
        }
        if let Some(role) = &filter.role {
            condition = condition.add(holds_role(role));
        }
        if let Some(active) = filter.is_active {
            condition = condition.add(user::Column::IsActive.eq(active));
        }
        let select = user::Entity::find()
            .filter(condition)
            .order_by_asc(user::Column::Username);
        let (rows, total) = fetch_page(select, page, &self.reader).await?;
        let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
        let mut roles: std::collections::HashMap<Uuid, Vec<String>> =
            std::collections::HashMap::new();
        if !ids.is_empty() {
            for row in user_role::Entity::find()
                .filter(user_role::Column::UserId.is_in(ids))
                .order_by_asc(user_role::Column::Role)
                .all(&self.reader)
                .await
                .map_err(db_error)?
            {
                roles.entry(row.user_id).or_default().push(row.role);
            }
        }
        Ok(Page {
            items: rows
                .into_iter()
                .map(|m| {
                    let r = roles.remove(&m.id).unwrap_or_default();
                    stored(m, r).user
                })
                .collect(),
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    async fn update(&self, id: Uuid, change: &UserChange, at: DateTime<Utc>) -> Result<User> {
        let txn = crate::sql_pools::begin_write(&self.writer)
            .await
            .map_err(db_error)?;
        lock_admins(&txn).await?;
        let current = with_roles(
            &txn,
            fetch_unique(user::Entity::find_by_id(id), &txn).await?,
        )
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
        if change.removes_admin(&current.user) && other_active_admins(&txn, id).await? == 0 {
            return Err(last_admin_error());
        }
        let mut update =
            user::Entity::update_many().col_expr(user::Column::UpdatedAt, Expr::value(at));
        if let Some(email) = &change.email {
            update = update.col_expr(user::Column::Email, Expr::value(email.clone()));
        }
        if let Some(full_name) = &change.full_name {
            update = update.col_expr(user::Column::FullName, Expr::value(full_name.clone()));
        }
        if let Some(active) = change.is_active {
            update = update.col_expr(user::Column::IsActive, Expr::value(active));
        }
        if change.unlock {
            update = cleared_login(update);
        }
        update
            .filter(user::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(|e| taken(db_error(e)))?;
        if let Some(roles) = &change.roles {
            check_roles_exist(&txn, roles).await?;
            user_role::Entity::delete_many()
                .filter(user_role::Column::UserId.eq(id))
                .exec(&txn)
                .await
                .map_err(db_error)?;
            assign_roles(&txn, id, roles).await?;
        }
        let updated = with_roles(
            &txn,
            fetch_unique(user::Entity::find_by_id(id), &txn).await?,
        )
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
        txn.commit().await.map_err(db_error)?;
        Ok(updated.user)
    }

    async fn delete(&self, id: Uuid) -> Result<()> {
        let txn = crate::sql_pools::begin_write(&self.writer)
            .await
            .map_err(db_error)?;
        lock_admins(&txn).await?;
        let current = with_roles(
            &txn,
            fetch_unique(user::Entity::find_by_id(id), &txn).await?,
        )
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
        let deactivate = UserChange {
            is_active: Some(false),
            ..UserChange::default()
        };
        if deactivate.removes_admin(&current.user) && other_active_admins(&txn, id).await? == 0 {
            return Err(last_admin_error());
        }
        user::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }

    async fn count_active_admins(&self) -> Result<u64> {
        user::Entity::find()
            .filter(user::Column::IsActive.eq(true))
            .filter(holds_role(ADMIN_ROLE))
            .count(&self.reader)
            .await
            .map_err(db_error)
    }
}
