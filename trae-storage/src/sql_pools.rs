//! The sqlx pools a raw-SQL repository works through: on SQLite the single writer connection
//! and the read pool, on PostgreSQL one pool.

use sea_orm::{DatabaseBackend, DatabaseConnection};
use sqlx::{PgPool, SqlitePool};

/// Where a repository's queries go.
#[derive(Debug, Clone)]
pub(crate) enum Pools {
    /// SQLite: writes through `writer`, reads through `reader`.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    /// PostgreSQL: one pool for both.
    Postgres(PgPool),
}

impl Pools {
    /// The pools behind sea-orm's `writer` and `reader` connections (the writer's when the
    /// reader is not SQLite).
    pub(crate) fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        match writer.get_database_backend() {
            DatabaseBackend::Postgres => {
                Self::Postgres(writer.get_postgres_connection_pool().clone())
            }
            _ => Self::Sqlite {
                writer: writer.get_sqlite_connection_pool().clone(),
                reader: match reader.get_database_backend() {
                    DatabaseBackend::Sqlite => reader.get_sqlite_connection_pool().clone(),
                    _ => writer.get_sqlite_connection_pool().clone(),
                },
            },
        }
    }
}
