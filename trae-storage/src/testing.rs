//! Fresh databases for tests: a SQLite file in a temporary directory, or a new database on
//! the PostgreSQL server named by `TRAE_TEST_DATABASE_URL`.
//!
//! [`storage_test!`](crate::storage_test) runs one async test body on both.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;

use futures_util::FutureExt;
use sqlx::{Connection, Executor, PgConnection, postgres::PgConnectOptions};

/// The environment variable naming the PostgreSQL server tests may create databases on.
pub const TEST_DATABASE_URL: &str = "TRAE_TEST_DATABASE_URL";

/// A database that exists for one test and is removed afterwards.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to open it with.
    pub url: String,
    postgres: Option<(String, String)>,
    dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new SQLite file in a fresh temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        Self {
            url,
            postgres: None,
            dir: Some(dir),
        }
    }

    /// A new, empty database on the server of `TRAE_TEST_DATABASE_URL`, or `None` (with a
    /// note on stderr) when the variable is unset or empty.
    pub async fn postgres(test: &str) -> Option<Self> {
        let admin_url = match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                eprintln!(
                    "SKIPPED (PostgreSQL half of {test}): {TEST_DATABASE_URL} is unset; \
                     set it, e.g. to postgres://postgres@127.0.0.1:5432/test, to run it"
                );
                return None;
            }
        };
        let name = format!("trae_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL} is set but unreachable: {e}"));
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("TRAE_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(Self {
            url: url.to_string(),
            postgres: Some((admin_url, name)),
            dir: None,
        })
    }

    /// The temporary directory holding a SQLite database.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// Removes the database (the temporary directory goes when `self` drops).
    pub async fn remove(self) {
        if let Some((admin_url, name)) = &self.postgres {
            let options = PgConnectOptions::from_str(admin_url).expect("admin URL");
            if let Ok(mut admin) = PgConnection::connect_with(&options).await {
                let _ = admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .await;
                let _ = admin.close().await;
            }
        }
    }
}

/// Runs `body` with the URL of a fresh database and removes the database afterwards, also
/// when the body panics.
pub async fn with_database<F, Fut>(db: TestDatabase, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(body(db.url.clone())).catch_unwind().await;
    db.remove().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Defines a test module whose `sqlite` and `postgres` tests run the same body, each on a
/// fresh database. The body is a closure taking the database URL.
///
/// ```ignore
/// storage_test!(creates_a_pet, |url: String| async move {
///     let store = Store::connect(&url).await.unwrap();
///     // ...
/// });
/// ```
#[macro_export]
macro_rules! storage_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::testing::TestDatabase::sqlite();
                $crate::testing::with_database(db, $body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let test = concat!(module_path!(), "::", stringify!($name));
                if let Some(db) = $crate::testing::TestDatabase::postgres(test).await {
                    $crate::testing::with_database(db, $body).await;
                }
            }
        }
    };
}
