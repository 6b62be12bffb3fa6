//! Task counters (issue 20): the number of tasks per `(queue, kind, state)` and the queue's
//! activity per second, kept by triggers in the same transaction as every change to `tasks`,
//! so `stats`, list totals and the backlog limit read a few rows instead of counting the table.
//!
//! Triggers rather than bookkeeping in each repository statement: every path that changes a
//! task's state (enqueue, claim, finish, rescue, cancel, retry, prune, a future statement, an
//! operator's `DELETE`) is counted by construction.
//!
//! - **SQLite** keeps one row per `(queue, kind, state)` and per `(second, queue, kind)`,
//!   updated by row triggers. SQLite has one writer at a time, so a hot counter row costs no
//!   concurrency, only a B-tree update per changed task.
//! - **PostgreSQL** would serialise concurrent claims on such hot rows (every claim on every
//!   node decrements `available` and increments `running` of the same key, and holds the row
//!   lock until it commits). Its statement triggers therefore only *insert*: one delta row per
//!   `(queue, kind, state)` a statement changed, into `task_count_deltas`, and one activity row
//!   per statement and second. Readers add the deltas to `task_counts`; workers fold the deltas
//!   in every heartbeat (under a try-lock, so one node folds at a time) and drop activity past
//!   the stats window, so what readers add up stays proportional to a second or so of
//!   transitions, never to the queue's size.
//!
//! The backfill runs after the triggers are created, in the migration's transaction: on
//! PostgreSQL `CREATE TRIGGER` waits for in-flight writes to `tasks` and holds new ones until
//! commit, so no task is counted twice or missed.
//!
//! No index on `(state, …)` is added for lists by state: SQLite's planner then chose it for the
//! claim's `UPDATE … WHERE id IN (…) AND state IN (…)` and scanned every waiting task per claim.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const SQLITE_UP: &str = r#"
CREATE TABLE task_counts (
    queue  TEXT NOT NULL,
    kind   TEXT NOT NULL,
    state  TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (queue, kind, state)
) WITHOUT ROWID;
CREATE TABLE task_activity (
    second     INTEGER NOT NULL,
    queue      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    started    INTEGER NOT NULL DEFAULT 0,
    wait_secs  REAL NOT NULL DEFAULT 0.0,
    completed  INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,
    run_secs   REAL NOT NULL DEFAULT 0.0,
    PRIMARY KEY (second, queue, kind)
) WITHOUT ROWID;
CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (queue, kind, state, n) VALUES (NEW.queue, NEW.kind, NEW.state, 1)
        ON CONFLICT (queue, kind, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1
        WHERE queue = OLD.queue AND kind = OLD.kind AND state = OLD.state;
END;
CREATE TRIGGER tasks_count_update AFTER UPDATE OF state ON tasks
WHEN OLD.state <> NEW.state BEGIN
    UPDATE task_counts SET n = n - 1
        WHERE queue = OLD.queue AND kind = OLD.kind AND state = OLD.state;
    INSERT INTO task_counts (queue, kind, state, n) VALUES (NEW.queue, NEW.kind, NEW.state, 1)
        ON CONFLICT (queue, kind, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_activity_start AFTER UPDATE OF state ON tasks
WHEN NEW.state = 'running' AND OLD.state <> 'running' AND NEW.started_at IS NOT NULL BEGIN
    INSERT INTO task_activity (second, queue, kind, started, wait_secs)
        VALUES (CAST(strftime('%s', NEW.started_at) AS INTEGER), NEW.queue, NEW.kind, 1,
                (julianday(NEW.started_at) - julianday(NEW.run_at)) * 86400.0)
        ON CONFLICT (second, queue, kind) DO UPDATE SET
            started = started + 1, wait_secs = wait_secs + excluded.wait_secs;
END;
CREATE TRIGGER tasks_activity_finish AFTER UPDATE OF state ON tasks
WHEN NEW.state IN ('completed', 'failed') AND OLD.state <> NEW.state
    AND NEW.started_at IS NOT NULL AND NEW.finished_at IS NOT NULL BEGIN
    INSERT INTO task_activity (second, queue, kind, completed, failed, run_secs)
        VALUES (CAST(strftime('%s', NEW.finished_at) AS INTEGER), NEW.queue, NEW.kind,
                NEW.state = 'completed', NEW.state = 'failed',
                (julianday(NEW.finished_at) - julianday(NEW.started_at)) * 86400.0)
        ON CONFLICT (second, queue, kind) DO UPDATE SET
            completed = completed + excluded.completed, failed = failed + excluded.failed,
            run_secs = run_secs + excluded.run_secs;
END;
INSERT INTO task_counts (queue, kind, state, n)
    SELECT queue, kind, state, COUNT(*) FROM tasks GROUP BY queue, kind, state;
"#;

const POSTGRES_UP: &str = r#"
CREATE TABLE task_counts (
    queue  TEXT NOT NULL,
    kind   TEXT NOT NULL,
    state  TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (queue, kind, state)
);
CREATE TABLE task_count_deltas (
    queue  TEXT NOT NULL,
    kind   TEXT NOT NULL,
    state  TEXT NOT NULL,
    n      BIGINT NOT NULL
);
CREATE TABLE task_activity (
    second     BIGINT NOT NULL,
    queue      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    started    BIGINT NOT NULL DEFAULT 0,
    wait_secs  DOUBLE PRECISION NOT NULL DEFAULT 0,
    completed  BIGINT NOT NULL DEFAULT 0,
    failed     BIGINT NOT NULL DEFAULT 0,
    run_secs   DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX task_activity_second ON task_activity (second);

CREATE FUNCTION trae_tasks_counted_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_count_deltas (queue, kind, state, n)
        SELECT queue, kind, state, COUNT(*) FROM trae_new GROUP BY queue, kind, state;
    RETURN NULL;
END $$;

CREATE FUNCTION trae_tasks_counted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_count_deltas (queue, kind, state, n)
        SELECT queue, kind, state, -COUNT(*) FROM trae_old GROUP BY queue, kind, state;
    RETURN NULL;
END $$;

CREATE FUNCTION trae_tasks_counted_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_count_deltas (queue, kind, state, n)
        SELECT queue, kind, state, SUM(d) FROM (
            SELECT queue, kind, state, 1 AS d FROM trae_new
            UNION ALL SELECT queue, kind, state, -1 AS d FROM trae_old
        ) changes GROUP BY queue, kind, state HAVING SUM(d) <> 0;
    INSERT INTO task_activity (second, queue, kind, started, wait_secs)
        SELECT floor(extract(epoch FROM n.started_at))::bigint, n.queue, n.kind, COUNT(*),
               SUM(extract(epoch FROM (n.started_at - n.run_at)))::float8
        FROM trae_new n JOIN trae_old o ON o.id = n.id
        WHERE n.state = 'running' AND o.state <> 'running' AND n.started_at IS NOT NULL
        GROUP BY 1, 2, 3;
    INSERT INTO task_activity (second, queue, kind, completed, failed, run_secs)
        SELECT floor(extract(epoch FROM n.finished_at))::bigint, n.queue, n.kind,
               COUNT(*) FILTER (WHERE n.state = 'completed'),
               COUNT(*) FILTER (WHERE n.state = 'failed'),
               SUM(extract(epoch FROM (n.finished_at - n.started_at)))::float8
        FROM trae_new n JOIN trae_old o ON o.id = n.id
        WHERE n.state IN ('completed', 'failed') AND o.state <> n.state
            AND n.started_at IS NOT NULL AND n.finished_at IS NOT NULL
        GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;

CREATE TRIGGER tasks_counted_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS trae_new
    FOR EACH STATEMENT EXECUTE FUNCTION trae_tasks_counted_insert();
CREATE TRIGGER tasks_counted_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS trae_old
    FOR EACH STATEMENT EXECUTE FUNCTION trae_tasks_counted_delete();
CREATE TRIGGER tasks_counted_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS trae_old NEW TABLE AS trae_new
    FOR EACH STATEMENT EXECUTE FUNCTION trae_tasks_counted_update();

INSERT INTO task_counts (queue, kind, state, n)
    SELECT queue, kind, state, COUNT(*) FROM tasks GROUP BY queue, kind, state;
"#;

const SQLITE_DOWN: &str = r#"
DROP TRIGGER tasks_activity_finish;
DROP TRIGGER tasks_activity_start;
DROP TRIGGER tasks_count_update;
DROP TRIGGER tasks_count_delete;
DROP TRIGGER tasks_count_insert;
DROP TABLE task_activity;
DROP TABLE task_counts;
"#;

const POSTGRES_DOWN: &str = r#"
DROP TRIGGER tasks_counted_update ON tasks;
DROP TRIGGER tasks_counted_delete ON tasks;
DROP TRIGGER tasks_counted_insert ON tasks;
DROP FUNCTION trae_tasks_counted_update();
DROP FUNCTION trae_tasks_counted_delete();
DROP FUNCTION trae_tasks_counted_insert();
DROP TABLE task_activity;
DROP TABLE task_count_deltas;
DROP TABLE task_counts;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::execute_for_backend(manager, SQLITE_DOWN, POSTGRES_DOWN).await
    }
}
