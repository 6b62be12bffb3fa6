//! Monitoring: metric points at two resolutions, alert rules and alerts, and component health
//! transitions.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE metric_points (
    resolution  INTEGER NOT NULL,
    name        TEXT NOT NULL,
    labels      TEXT NOT NULL,
    at          TEXT NOT NULL,
    value       REAL NOT NULL,
    PRIMARY KEY (resolution, name, labels, at)
);
CREATE INDEX metric_points_at ON metric_points (resolution, at);

CREATE TABLE alert_rules (
    id           BLOB PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL UNIQUE,
    spec         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE alerts (
    id              BLOB PRIMARY KEY NOT NULL,
    rule_id         BLOB NOT NULL,
    rule_name       TEXT NOT NULL,
    metric          TEXT NOT NULL,
    labels          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    comparison      TEXT NOT NULL,
    threshold       REAL NOT NULL,
    value           REAL NOT NULL,
    state           TEXT NOT NULL,
    fired_at        TEXT NOT NULL,
    resolved_at     TEXT,
    resolved_value  REAL
);
CREATE UNIQUE INDEX alerts_one_firing ON alerts (rule_id, labels) WHERE state = 'firing';
CREATE INDEX alerts_fired_at ON alerts (fired_at, id);

CREATE TABLE health_transitions (
    id          BLOB PRIMARY KEY NOT NULL,
    component   TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    at          TEXT NOT NULL,
    error       TEXT
);
CREATE INDEX health_transitions_component_at ON health_transitions (component, at);
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE metric_points (
    resolution  SMALLINT NOT NULL,
    name        TEXT NOT NULL,
    labels      TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (resolution, name, labels, at)
);
CREATE INDEX metric_points_at ON metric_points (resolution, at);

CREATE TABLE alert_rules (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    spec         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE alerts (
    id              UUID PRIMARY KEY,
    rule_id         UUID NOT NULL,
    rule_name       TEXT NOT NULL,
    metric          TEXT NOT NULL,
    labels          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    comparison      TEXT NOT NULL,
    threshold       DOUBLE PRECISION NOT NULL,
    value           DOUBLE PRECISION NOT NULL,
    state           TEXT NOT NULL,
    fired_at        TIMESTAMPTZ NOT NULL,
    resolved_at     TIMESTAMPTZ,
    resolved_value  DOUBLE PRECISION
);
CREATE UNIQUE INDEX alerts_one_firing ON alerts (rule_id, labels) WHERE state = 'firing';
CREATE INDEX alerts_fired_at ON alerts (fired_at, id);

CREATE TABLE health_transitions (
    id          UUID PRIMARY KEY,
    component   TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    error       TEXT
);
CREATE INDEX health_transitions_component_at ON health_transitions (component, at);
"#;

const DOWN: &str = "DROP TABLE health_transitions; DROP TABLE alerts; DROP TABLE alert_rules; DROP TABLE metric_points;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, DOWN, DOWN).await
    }
}
