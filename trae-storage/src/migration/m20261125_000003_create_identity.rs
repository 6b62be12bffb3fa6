//! Users, roles and their permissions, with the built-in roles seeded.
//!
//! `admin` is granted no rows on purpose: it holds every permission, resolved at check time,
//! so permissions added later need no grant. Later issues grant their own permissions to the
//! other built-in roles in their migrations.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE roles (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    built_in    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE role_permissions (
    role        TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
    permission  TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);
CREATE TABLE users (
    id                        BLOB PRIMARY KEY NOT NULL,
    username                  TEXT NOT NULL UNIQUE,
    email                     TEXT NOT NULL UNIQUE,
    full_name                 TEXT,
    is_active                 INTEGER NOT NULL DEFAULT 1,
    password_hash             TEXT NOT NULL,
    failed_logins             INTEGER NOT NULL DEFAULT 0,
    failure_window_started_at TEXT,
    locked_until              TEXT,
    login_version             INTEGER NOT NULL DEFAULT 0,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    last_login_at             TEXT
);
CREATE TABLE user_roles (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL REFERENCES roles (name) ON UPDATE CASCADE,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (role);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    built_in    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE role_permissions (
    role        TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
    permission  TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);
CREATE TABLE users (
    id                        UUID PRIMARY KEY,
    username                  TEXT NOT NULL UNIQUE,
    email                     TEXT NOT NULL UNIQUE,
    full_name                 TEXT,
    is_active                 BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash             TEXT NOT NULL,
    failed_logins             INTEGER NOT NULL DEFAULT 0,
    failure_window_started_at TIMESTAMPTZ,
    locked_until              TIMESTAMPTZ,
    login_version             BIGINT NOT NULL DEFAULT 0,
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL,
    last_login_at             TIMESTAMPTZ
);
CREATE TABLE user_roles (
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL REFERENCES roles (name) ON UPDATE CASCADE,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (role);
"#;

const ROLES: [(&str, &str); 4] = [
    ("viewer", "Reads everything that is not sensitive"),
    (
        "user",
        "A viewer who also writes pets, tasks and content and calls external APIs",
    ),
    (
        "developer",
        "A user who also administers external APIs, manages secrets and reviews content",
    ),
    ("admin", "Every permission, present and future"),
];

const VIEWER: &[&str] = &[
    "pets:read",
    "tasks:read",
    "apis:read",
    "metrics:read",
    "content:read",
];
const USER: &[&str] = &["pets:write", "tasks:write", "apis:call", "content:write"];
const DEVELOPER: &[&str] = &[
    "apis:admin",
    "secrets:read",
    "secrets:write",
    "content:review",
];

/// Each built-in role with everything it holds, inherited grants spelled out as rows.
const GRANTS: [(&str, &[&[&str]]); 3] = [
    ("viewer", &[VIEWER]),
    ("user", &[VIEWER, USER]),
    ("developer", &[VIEWER, USER, DEVELOPER]),
];

fn seed(backend: DatabaseBackend) -> String {
    // Boolean literals are spelled differently by the two backends.
    let truth = if backend == DatabaseBackend::Postgres {
        "TRUE"
    } else {
        "1"
    };
    let roles: Vec<String> = ROLES
        .iter()
        .map(|(name, description)| format!("('{name}', '{description}', {truth})"))
        .collect();
    let grants: Vec<String> = GRANTS
        .iter()
        .flat_map(|(role, sets)| {
            sets.iter()
                .flat_map(|set| set.iter())
                .map(move |permission| format!("('{role}', '{permission}')"))
        })
        .collect();
    format!(
        "INSERT INTO roles (name, description, built_in) VALUES {};\n\
         INSERT INTO role_permissions (role, permission) VALUES {};",
        roles.join(", "),
        grants.join(", ")
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let schema = match backend {
            DatabaseBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        db.execute_unprepared(schema).await?;
        db.execute_unprepared(&seed(backend)).await.map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE user_roles; DROP TABLE users; DROP TABLE role_permissions; DROP TABLE roles;",
            )
            .await
            .map(|_| ())
    }
}
