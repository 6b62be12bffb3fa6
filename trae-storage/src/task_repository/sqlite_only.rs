//! What only SQLite runs: multi-row `VALUES` with anonymous parameters.

use super::*;
use sqlx::Row as _;
use sqlx::SqliteConnection as Conn;

/// Rows per multi-row `INSERT` (13 parameters each, under SQLite's 32,766).
pub(super) const INSERT_CHUNK: usize = 1000;
/// Outcomes per `finish` statement (6 parameters each).
pub(super) const FINISH_CHUNK: usize = 1000;

fn rows(n: usize, width: usize) -> String {
    let one = format!("({})", anonymous_params(width));
    vec![one; n].join(", ")
}

pub(super) async fn insert_chunk(
    conn: &mut Conn,
    chunk: &[&TaskRecord],
    keyed: bool,
) -> Result<Vec<Uuid>> {
    let mut sql = String::with_capacity(200 + chunk.len() * 40);
    sql.push_str(
        "INSERT INTO tasks (id, queue, kind, payload, priority, state, max_attempts, \
         run_at, unique_key, tags, created_by, created_at, owner_id) VALUES ",
    );
    sql.push_str(&rows(chunk.len(), 13));
    if keyed {
        sql.push_str(" ON CONFLICT DO NOTHING RETURNING id");
    }
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for r in chunk {
        query = query
            .bind(r.id)
            .bind(r.queue.as_str())
            .bind(r.kind.as_str())
            .bind(Json(&r.payload))
            .bind(r.priority)
            .bind(r.state.as_str())
            .bind(r.max_attempts)
            .bind(micros(r.run_at))
            .bind(r.unique_key.as_deref())
            .bind(encode_tags(&r.tags)?)
            .bind(r.created_by.as_str())
            .bind(micros(r.created_at))
            .bind(r.owner_id);
    }
    if keyed {
        let found = query.fetch_all(&mut *conn).await.map_err(sql_err)?;
        found
            .iter()
            .map(|row| row.try_get::<Uuid, _>(0).map_err(bad_row))
            .collect()
    } else {
        let done = query.execute(&mut *conn).await.map_err(sql_err)?;
        let n = usize::try_from(done.rows_affected()).unwrap_or(0);
        Ok(chunk.iter().take(n).map(|r| r.id).collect())
    }
}

pub(super) async fn finish_chunk(
    conn: &mut Conn,
    kind: FinishKind,
    chunk: &[&Finish],
) -> Result<Vec<Uuid>> {
    let values = format!(
        "(SELECT column1 AS v_id, column2 AS v_worker, column3 AS v_attempt, \
         column4 AS v_ts, column5 AS v_msg, column6 AS v_res FROM (VALUES {})) AS v",
        rows(chunk.len(), 6)
    );
    let mut query = sqlx::query(AssertSqlSafe(kind.sql(&values)));
    for f in chunk {
        let (ts, msg, res) = finish_values(f);
        query = query
            .bind(f.lease.task_id)
            .bind(f.lease.worker_id.as_str())
            .bind(f.lease.attempt)
            .bind(ts)
            .bind(msg)
            .bind(res.map(Json));
    }
    let found = query.fetch_all(&mut *conn).await.map_err(sql_err)?;
    found
        .iter()
        .map(|row| row.try_get::<Uuid, _>(0).map_err(bad_row))
        .collect()
}

pub(super) async fn insert_errors(
    conn: &mut Conn,
    errors: &[(Uuid, i32, DateTime<Utc>, &str)],
) -> Result<()> {
    let sql = format!(
        "INSERT INTO task_errors (task_id, attempt, at, message) VALUES {}",
        rows(errors.len(), 4)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (id, attempt, at, message) in errors {
        query = query.bind(*id).bind(*attempt).bind(*at).bind(*message);
    }
    query.execute(&mut *conn).await.map_err(sql_err)?;
    Ok(())
}
