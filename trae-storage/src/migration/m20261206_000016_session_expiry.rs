//! An absolute lifetime for every session (issue 19): `sessions.expires_at`, after which no
//! refresh and no access token of the session works, whatever a token's own `exp` says.
//! Existing sessions get 30 days from their sign-in (the default `TRAE_SESSION_TTL_DAYS`), so
//! sessions that were older than that end with this migration.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

// SQLite cannot add a NOT NULL column without a default; the column stays nullable there and
// the code reads a missing expiry as already expired.
const SQLITE_UP: &str = r#"
ALTER TABLE sessions ADD COLUMN expires_at TEXT;
UPDATE sessions SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '+30 days');
CREATE INDEX sessions_expires_at ON sessions (expires_at);
"#;

const POSTGRES_UP: &str = r#"
ALTER TABLE sessions ADD COLUMN expires_at TIMESTAMPTZ;
UPDATE sessions SET expires_at = created_at + INTERVAL '30 days';
ALTER TABLE sessions ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX sessions_expires_at ON sessions (expires_at);
"#;

const DOWN: &str = r#"
DROP INDEX sessions_expires_at;
ALTER TABLE sessions DROP COLUMN expires_at;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, DOWN, DOWN).await
    }
}
