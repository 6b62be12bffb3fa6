//! What only PostgreSQL runs: one array parameter per column, `UNNEST`ed, so a statement
//! has a fixed text (prepared once) whatever the number of rows.

use super::*;
use sqlx::PgConnection as Conn;
use sqlx::Row as _;

/// Rows per `INSERT` (arrays: no parameter limit; bounds a statement's size).
pub(super) const INSERT_CHUNK: usize = 5000;
/// Outcomes per `finish` statement.
pub(super) const FINISH_CHUNK: usize = 5000;

const INSERT: &str = "INSERT INTO tasks (id, queue, kind, payload, priority, state, \
    max_attempts, run_at, unique_key, tags, created_by, created_at, owner_id) \
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::int2[], \
    $6::text[], $7::int4[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], \
    $12::timestamptz[], $13::uuid[])";

pub(super) async fn insert_chunk(
    conn: &mut Conn,
    chunk: &[&TaskRecord],
    keyed: bool,
) -> Result<Vec<Uuid>> {
    static KEYED: LazyLock<String> =
        LazyLock::new(|| format!("{INSERT} ON CONFLICT DO NOTHING RETURNING id"));
    let n = chunk.len();
    let mut ids = Vec::with_capacity(n);
    let mut queues = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut priorities = Vec::with_capacity(n);
    let mut states = Vec::with_capacity(n);
    let mut max_attempts = Vec::with_capacity(n);
    let mut run_ats = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut tags = Vec::with_capacity(n);
    let mut created_by = Vec::with_capacity(n);
    let mut created_at = Vec::with_capacity(n);
    let mut owners = Vec::with_capacity(n);
    for r in chunk {
        ids.push(r.id);
        queues.push(r.queue.as_str());
        kinds.push(r.kind.as_str());
        payloads.push(Json(&r.payload));
        priorities.push(r.priority);
        states.push(r.state.as_str());
        max_attempts.push(r.max_attempts);
        run_ats.push(micros(r.run_at));
        keys.push(r.unique_key.as_deref());
        tags.push(encode_tags(&r.tags)?);
        created_by.push(r.created_by.as_str());
        created_at.push(micros(r.created_at));
        owners.push(r.owner_id);
    }
    let query = sqlx::query(if keyed { KEYED.as_str() } else { INSERT })
        .bind(ids)
        .bind(queues)
        .bind(kinds)
        .bind(payloads)
        .bind(priorities)
        .bind(states)
        .bind(max_attempts)
        .bind(run_ats)
        .bind(keys)
        .bind(tags)
        .bind(created_by)
        .bind(created_at)
        .bind(owners);
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
    static SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
        FinishKind::ALL
            .iter()
            .map(|k| {
                k.sql(
                    "UNNEST($1::uuid[], $2::text[], $3::int4[], $4::timestamptz[], \
                     $5::text[], $6::jsonb[]) AS v(v_id, v_worker, v_attempt, v_ts, v_msg, \
                     v_res)",
                )
            })
            .collect()
    });
    let sql = SQL[FinishKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)].as_str();
    let n = chunk.len();
    let mut ids = Vec::with_capacity(n);
    let mut workers = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut messages = Vec::with_capacity(n);
    let mut results = Vec::with_capacity(n);
    for f in chunk {
        let (ts, msg, res) = finish_values(f);
        ids.push(f.lease.task_id);
        workers.push(f.lease.worker_id.as_str());
        attempts.push(f.lease.attempt);
        times.push(ts);
        messages.push(msg);
        results.push(res.map(Json));
    }
    let found = sqlx::query(sql)
        .bind(ids)
        .bind(workers)
        .bind(attempts)
        .bind(times)
        .bind(messages)
        .bind(results)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql_err)?;
    found
        .iter()
        .map(|row| row.try_get::<Uuid, _>(0).map_err(bad_row))
        .collect()
}

pub(super) async fn insert_errors(
    conn: &mut Conn,
    errors: &[(Uuid, i32, DateTime<Utc>, &str)],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO task_errors (task_id, attempt, at, message) \
         SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::timestamptz[], $4::text[])",
    )
    .bind(errors.iter().map(|e| e.0).collect::<Vec<_>>())
    .bind(errors.iter().map(|e| e.1).collect::<Vec<_>>())
    .bind(errors.iter().map(|e| e.2).collect::<Vec<_>>())
    .bind(errors.iter().map(|e| e.3).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(sql_err)?;
    Ok(())
}
