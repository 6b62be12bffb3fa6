//! The storage crate's error type and its mapping onto `trae_core::Error`.

use sea_orm::DbErr;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong opening, migrating or querying a database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a database trae can use.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database cannot be reached or opened.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed or the schema is not one this version knows.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] DbErr),
    /// The data directory is missing and cannot be made safely.
    #[error("{0}")]
    MissingDirectory(String),
    /// The database file failed its integrity check.
    #[error("{0}")]
    Damaged(String),
}

impl From<Error> for trae_core::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidUrl(m) => Self::Config(m),
            Error::Connect(m) => Self::Unavailable(m),
            Error::Migration(m) => Self::Storage(format!("migration failed: {m}")),
            Error::Query(e) => db_error(e),
            Error::MissingDirectory(m) => Self::Config(m),
            Error::Damaged(m) => Self::Unavailable(m),
        }
    }
}

/// What a caller is told when the store's connections are closed.
const CLOSED: &str = "the database is closed: trae is stopping, or it refuses writes after \
                      finding the database file damaged (see the `database` health component)";

/// Maps a database error onto the core error a service returns.
pub(crate) fn db_error(err: DbErr) -> trae_core::Error {
    use sea_orm::{RuntimeErr, SqlErr};
    if let DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e)) = &err
        && let Some(fault) = crate::database_fault::observe(e)
    {
        return fault;
    }
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(m)) => {
            trae_core::Error::Conflict(format!("already exists: {m}"))
        }
        Some(SqlErr::ForeignKeyConstraintViolation(m)) => {
            trae_core::Error::Conflict(format!("references a missing record: {m}"))
        }
        _ => match err {
            DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::ConnectionClosed) => {
                trae_core::Error::Unavailable(CLOSED.into())
            }
            DbErr::ConnectionAcquire(e) => trae_core::Error::Unavailable(e.to_string()),
            DbErr::Conn(e) => trae_core::Error::Unavailable(e.to_string()),
            other => trae_core::Error::Storage(other.to_string()),
        },
    }
}

/// Maps a sqlx error onto the core error a service returns; a rejected row is a validation
/// error on `record` (e.g. "task").
pub(crate) fn sqlx_error(err: &sqlx::Error, record: &str) -> trae_core::Error {
    use sqlx::error::ErrorKind;
    if let Some(fault) = crate::database_fault::observe(err) {
        return fault;
    }
    match err {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => {
                trae_core::Error::Conflict(format!("already exists: {}", db.message()))
            }
            ErrorKind::ForeignKeyViolation => {
                trae_core::Error::Conflict(format!("references a missing record: {}", db.message()))
            }
            ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                trae_core::Error::validation(
                    record,
                    format!("rejected by the database: {}", db.message()),
                )
            }
            _ if db.code().is_some_and(|c| c == "5" || c == "6") => {
                trae_core::Error::Unavailable(format!("database is busy: {}", db.message()))
            }
            _ => trae_core::Error::Storage(err.to_string()),
        },
        sqlx::Error::PoolClosed => trae_core::Error::Unavailable(CLOSED.into()),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            trae_core::Error::Unavailable(err.to_string())
        }
        _ => trae_core::Error::Storage(err.to_string()),
    }
}
