//! The sqlx pools a raw-SQL repository works through (on SQLite the single writer connection
//! and the read pool, on PostgreSQL one pool), and the two macros every raw-SQL repository is
//! written with: [`per_engine!`] writes its queries once for both engines, [`on_engine!`]
//! calls the copy for the database at hand.

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

/// Writes a raw-SQL repository's queries once for both engines.
///
/// The items are expanded twice, into `mod sqlite` and `mod postgres`. Each copy sees its
/// parent's names (`use super::*`) and, for its engine:
///
/// - `Db`: the sqlx database (`sqlx::Sqlite` or `sqlx::Postgres`),
/// - `Pool` and `DbRow`: its pool and row types,
/// - `PG`: whether this is the PostgreSQL copy, for the statements that differ.
///
/// What differs beyond a `PG` branch (a literal spliced into SQL, a module of statements only
/// one engine runs) goes in optional leading `sqlite { .. }` and `postgres { .. }` blocks, whose
/// items only that copy gets:
///
/// ```ignore
/// per_engine! {
///     sqlite { const FIND: &str = "instr"; }
///     postgres { const FIND: &str = "strpos"; }
///
///     pub(super) async fn get(pool: &Pool, name: &str) -> Result<Option<Thing>> { .. }
/// }
/// ```
///
/// The repository calls the copies through [`on_engine!`].
macro_rules! per_engine {
    (
        sqlite { $($sqlite:tt)* }
        postgres { $($postgres:tt)* }
        $($items:tt)*
    ) => {
        $crate::sql_pools::per_engine!(@copy sqlite, sqlx::Sqlite, false, { $($sqlite)* } $($items)*);
        $crate::sql_pools::per_engine!(@copy postgres, sqlx::Postgres, true, { $($postgres)* } $($items)*);
    };
    (@copy $name:ident, $Db:ty, $pg:literal, { $($only:tt)* } $($items:tt)*) => {
        // pub(crate): a repository split over files calls its engines from its parent.
        pub(crate) mod $name {
            use super::*;

            type Db = $Db;
            type Pool = sqlx::Pool<Db>;
            // Not every repository reads rows or branches on the engine.
            #[allow(dead_code)]
            type DbRow = <Db as sqlx::Database>::Row;
            #[allow(dead_code)]
            const PG: bool = $pg;

            $($only)*

            $($items)*
        }
    };
    ($($items:tt)*) => {
        $crate::sql_pools::per_engine! { sqlite {} postgres {} $($items)* }
    };
}
pub(crate) use per_engine;

/// Awaits a [`per_engine!`] function on the engine `pools` holds.
///
/// `on_engine!(self.pools, writer, insert(channel))` is `sqlite::insert(writer, channel)` on
/// SQLite's writer connection, or `postgres::insert(pool, channel)` on PostgreSQL; `reader`
/// in place of `writer` reads through SQLite's read pool (PostgreSQL has one pool for both).
macro_rules! on_engine {
    ($pools:expr, $side:ident, $f:ident ( $($arg:expr),* $(,)? )) => {
        match &$pools {
            $crate::sql_pools::Pools::Sqlite { $side, .. } => sqlite::$f($side $(, $arg)*).await,
            $crate::sql_pools::Pools::Postgres(pool) => postgres::$f(pool $(, $arg)*).await,
        }
    };
}
pub(crate) use on_engine;

/// Starts a write transaction on sea-orm's `writer`: `BEGIN IMMEDIATE` on SQLite, so one
/// that reads before it writes takes the write lock first (waiting out the busy timeout)
/// instead of failing with "database is locked" when another process wrote in between.
pub(crate) async fn begin_write(
    writer: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    writer
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
}

/// `($1, $2, …), ($k+1, …), …`: the `VALUES` rows of a multi-row `INSERT` of `rows` rows of
/// `columns` parameters each, numbered in row order.
pub(crate) fn values_rows(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * columns + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::values_rows;

    #[test]
    fn values_rows_numbers_parameters_row_by_row() {
        assert_eq!(values_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_rows(1, 1), "($1)");
        assert_eq!(values_rows(0, 4), "");
    }
}
