//! The task queue's SQL, written once for both engines: inserts, claims, finishes, reads,
//! stats and pruning.

use super::*;
// The engine modules below reach these as `super::sqlite_only` and `super::postgres_only`.
use super::{postgres_only, sqlite_only};

per_engine! {
    sqlite {
        use super::sqlite_only as special;
    }
    postgres {
        use super::postgres_only as special;
    }

    use sqlx::Row as _;

    type Conn = <Db as sqlx::Database>::Connection;
    type Tx = sqlx::Transaction<'static, Db>;

    /// The placeholders of a statement whose parameters are all bound in order.
    fn seq(from: usize, n: usize) -> String {
        if PG {
            params(from, n)
        } else {
            anonymous_params(n)
        }
    }

    async fn begin(pool: &Pool) -> Result<Tx> {
        if PG {
            pool.begin().await.map_err(sql_err)
        } else {
            pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql_err)
        }
    }

    fn task(row: &DbRow) -> Result<Task> {
        let state: String = row.try_get("state").map_err(bad_row)?;
        let tags: String = row.try_get("tags").map_err(bad_row)?;
        Ok(Task {
            id: row.try_get("id").map_err(bad_row)?,
            queue: row.try_get("queue").map_err(bad_row)?,
            kind: row.try_get("kind").map_err(bad_row)?,
            payload: row
                .try_get::<Json<Value>, _>("payload")
                .map_err(bad_row)?
                .0,
            priority: row.try_get("priority").map_err(bad_row)?,
            state: state.parse()?,
            attempt: row.try_get("attempt").map_err(bad_row)?,
            max_attempts: row.try_get("max_attempts").map_err(bad_row)?,
            run_at: row.try_get("run_at").map_err(bad_row)?,
            unique_key: row.try_get("unique_key").map_err(bad_row)?,
            tags: decode_tags(&tags),
            lease_expires_at: row.try_get("lease_expires_at").map_err(bad_row)?,
            worker_id: row.try_get("worker_id").map_err(bad_row)?,
            last_error: row.try_get("last_error").map_err(bad_row)?,
            errors: Vec::new(),
            result: row
                .try_get::<Option<Json<Value>>, _>("result")
                .map_err(bad_row)?
                .map(|j| j.0),
            progress: row
                .try_get::<Option<Json<Value>>, _>("progress")
                .map_err(bad_row)?
                .map(|j| j.0),
            created_by: row.try_get("created_by").map_err(bad_row)?,
            owner_id: row.try_get("owner_id").map_err(bad_row)?,
            created_at: row.try_get("created_at").map_err(bad_row)?,
            started_at: row.try_get("started_at").map_err(bad_row)?,
            finished_at: row.try_get("finished_at").map_err(bad_row)?,
        })
    }

    /// Fills in the error history of the tasks that have one (every failure sets
    /// `last_error`, and nothing clears it).
    async fn with_errors(conn: &mut Conn, mut tasks: Vec<Task>) -> Result<Vec<Task>> {
        let ids: Vec<Uuid> = tasks
            .iter()
            .filter(|t| t.last_error.is_some())
            .map(|t| t.id)
            .collect();
        if ids.is_empty() {
            return Ok(tasks);
        }
        let mut errors: HashMap<Uuid, Vec<TaskAttemptError>> = HashMap::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT task_id, attempt, at, message FROM task_errors \
                 WHERE task_id IN ({}) ORDER BY id",
                seq(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                let id: Uuid = row.try_get("task_id").map_err(bad_row)?;
                errors.entry(id).or_default().push(TaskAttemptError {
                    attempt: row.try_get("attempt").map_err(bad_row)?,
                    at: row.try_get("at").map_err(bad_row)?,
                    message: row.try_get("message").map_err(bad_row)?,
                });
            }
        }
        for t in &mut tasks {
            if let Some(e) = errors.remove(&t.id) {
                t.errors = e;
            }
        }
        Ok(tasks)
    }

    async fn fetch_one(conn: &mut Conn, id: Uuid) -> Result<Option<Task>> {
        let sql = const_format_select_by_id();
        let rows = sqlx::query(sql)
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        let tasks = rows.iter().map(task).collect::<Result<Vec<_>>>()?;
        Ok(with_errors(conn, tasks).await?.into_iter().next())
    }

    fn const_format_select_by_id() -> &'static str {
        static S: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {COLUMNS} FROM tasks WHERE id = $1"));
        S.as_str()
    }

    async fn fetch_by_ids(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<Task>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT {COLUMNS} FROM tasks WHERE id IN ({})",
                seq(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                out.push(task(&row)?);
            }
        }
        with_errors(conn, out).await
    }

    /// Inserts `records`, skipping those whose unique key is held; returns the ids
    /// inserted.
    async fn insert_rows(conn: &mut Conn, records: &[&TaskRecord]) -> Result<HashSet<Uuid>> {
        let mut inserted = HashSet::with_capacity(records.len());
        for chunk in records.chunks(special::INSERT_CHUNK) {
            let keyed = chunk.iter().any(|r| r.unique_key.is_some());
            let ids = special::insert_chunk(conn, chunk, keyed).await?;
            if !keyed && ids.len() != chunk.len() {
                return Err(Error::Conflict("a task with this id exists".into()));
            }
            inserted.extend(ids);
        }
        Ok(inserted)
    }

    /// The unfinished tasks holding `keys`, by key.
    async fn holders(conn: &mut Conn, keys: &[&str]) -> Result<HashMap<String, Task>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let sql = format!(
                "SELECT {COLUMNS} FROM tasks WHERE unique_key IN ({}) AND state IN ({})",
                seq(1, chunk.len()),
                SQL.unfinished
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for k in chunk {
                query = query.bind(*k);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                found.push(task(&row)?);
            }
        }
        Ok(with_errors(conn, found)
            .await?
            .into_iter()
            .filter_map(|t| t.unique_key.clone().map(|k| (k, t)))
            .collect())
    }

    /// Enqueues inside the caller's transaction.
    async fn enqueue_in(conn: &mut Conn, records: &[TaskRecord]) -> Result<Vec<Enqueued>> {
        for r in records {
            check_record(r)?;
        }
        let mut results: Vec<Option<Enqueued>> = vec![None; records.len()];
        // A key repeated within the batch resolves to its first occurrence.
        let mut first_of: HashMap<&str, usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        let mut pending: Vec<usize> = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            match r.unique_key.as_deref() {
                Some(key) => match first_of.get(key) {
                    Some(&first) => repeats.push((i, first)),
                    None => {
                        first_of.insert(key, i);
                        pending.push(i);
                    }
                },
                None => pending.push(i),
            }
        }
        let mut tries = 0;
        while !pending.is_empty() {
            tries += 1;
            if tries > UNIQUE_RETRIES {
                return Err(Error::Conflict(
                    "unique keys kept changing hands; try again".into(),
                ));
            }
            let batch: Vec<&TaskRecord> = pending.iter().map(|&i| &records[i]).collect();
            let inserted = insert_rows(conn, &batch).await?;
            let mut lost = Vec::new();
            for &i in &pending {
                if inserted.contains(&records[i].id) {
                    results[i] = Some(Enqueued {
                        task: inserted_task(&records[i]),
                        inserted: true,
                    });
                } else if records[i].unique_key.is_some() {
                    lost.push(i);
                } else {
                    return Err(Error::Conflict(format!(
                        "task {} already exists",
                        records[i].id
                    )));
                }
            }
            pending.clear();
            if lost.is_empty() {
                break;
            }
            let keys: Vec<&str> = lost
                .iter()
                .filter_map(|&i| records[i].unique_key.as_deref())
                .collect();
            let held = holders(conn, &keys).await?;
            for i in lost {
                let key = records[i].unique_key.as_deref().unwrap_or_default();
                match held.get(key) {
                    Some(t) => {
                        results[i] = Some(Enqueued {
                            task: t.clone(),
                            inserted: false,
                        })
                    }
                    // The holder finished meanwhile: the key is free, insert again.
                    None => pending.push(i),
                }
            }
        }
        for (i, first) in repeats {
            let task = results[first]
                .as_ref()
                .map(|e| e.task.clone())
                .ok_or_else(|| Error::Storage("unresolved unique key".into()))?;
            results[i] = Some(Enqueued {
                task,
                inserted: false,
            });
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::Storage("unresolved enqueue".into())))
            .collect()
    }

    async fn notify_queues<'a>(
        conn: &mut Conn,
        queues: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        if PG {
            let distinct: std::collections::BTreeSet<&str> = queues.into_iter().collect();
            for q in distinct {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(NOTIFY_CHANNEL)
                    .bind(q)
                    .execute(&mut *conn)
                    .await
                    .map_err(sql_err)?;
            }
        }
        Ok(())
    }

    pub(crate) async fn enqueue(pool: &Pool, records: &[TaskRecord]) -> Result<Vec<Enqueued>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = begin(pool).await?;
        let out = enqueue_in(&mut tx, records).await?;
        notify_queues(
            &mut tx,
            out.iter().filter(|e| e.inserted).map(|e| e.task.queue.as_str()),
        )
        .await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(out)
    }

    pub(crate) async fn enqueue_tick(
        pool: &Pool,
        schedule: &str,
        tick: DateTime<Utc>,
        record: &TaskRecord,
    ) -> Result<Option<Task>> {
        let mut tx = begin(pool).await?;
        let recorded = sqlx::query(
            "INSERT INTO task_schedule_ticks (schedule, tick, task_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(schedule)
        .bind(micros(tick))
        .bind(record.id)
        .bind(micros(record.created_at))
        .execute(&mut *tx)
        .await
        .map_err(sql_err)?;
        if recorded.rows_affected() == 0 {
            tx.rollback().await.map_err(sql_err)?;
            return Ok(None);
        }
        let mut out = enqueue_in(&mut tx, std::slice::from_ref(record)).await?;
        let enqueued = out.pop().filter(|e| e.inserted).map(|e| e.task);
        if let Some(t) = &enqueued {
            notify_queues(&mut tx, [t.queue.as_str()]).await?;
        }
        tx.commit().await.map_err(sql_err)?;
        Ok(enqueued)
    }

    pub(crate) async fn get(pool: &Pool, id: Uuid) -> Result<Option<Task>> {
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        fetch_one(&mut conn, id).await
    }

    pub(crate) async fn list(
        pool: &Pool,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> Result<TaskPage> {
        let mut conds: Vec<String> = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(state) = filter.state {
            binds.push(state.as_str().to_owned());
            conds.push(format!("state = ${}", binds.len()));
        }
        if let Some(queue) = &filter.queue {
            binds.push(queue.clone());
            conds.push(format!("queue = ${}", binds.len()));
        }
        if let Some(kind) = &filter.kind {
            binds.push(kind.clone());
            conds.push(format!("kind = ${}", binds.len()));
        }
        // What the counters can answer ends here: state, queue and kind.
        let counted_binds = binds.len();
        let counted_where = where_clause(&conds);
        if let Some(tag) = &filter.tag {
            binds.push(format!(",{tag},"));
            conds.push(if PG {
                format!("strpos(tags, ${}) > 0", binds.len())
            } else {
                format!("instr(tags, ${}) > 0", binds.len())
            });
        }
        // The owner is an id, not text: it takes the parameter after the text ones.
        let owner = filter.owner_id;
        if owner.is_some() {
            conds.push(format!("owner_id = ${}", binds.len() + 1));
        }
        let n = binds.len() + usize::from(owner.is_some());
        let where_sql = where_clause(&conds);
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        let mut select = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tasks{where_sql} ORDER BY created_at DESC, id DESC \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        )));
        for b in &binds {
            select = select.bind(b.as_str());
        }
        if let Some(owner) = owner {
            select = select.bind(owner);
        }
        let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        let rows = select
            .bind(i64::from(page.limit()))
            .bind(offset)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        let items = rows.iter().map(task).collect::<Result<Vec<_>>>()?;
        let on_page = items.len() as u64;
        let (total, total_exact) = if on_page < u64::from(page.limit())
            && (on_page > 0 || page.offset() == 0)
        {
            // The last page: every match is on it or before it.
            (page.offset() + on_page, true)
        } else if filter.tag.is_none() && owner.is_none() {
            let sql = if PG {
                format!(
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM (\
                     SELECT n FROM task_counts{counted_where} \
                     UNION ALL SELECT n FROM task_count_deltas{counted_where}) AS c"
                )
            } else {
                format!("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM task_counts{counted_where}")
            };
            let mut count = sqlx::query(AssertSqlSafe(sql));
            for b in &binds[..counted_binds] {
                count = count.bind(b.as_str());
            }
            let total: i64 = count
                .fetch_one(&mut *conn)
                .await
                .map_err(sql_err)?
                .try_get(0)
                .map_err(bad_row)?;
            (to_count(total), true)
        } else {
            // No counter for tags or owners: count the matches, but never past the cap.
            let cap = trae_core::tasks::task::LIST_COUNT_CAP;
            let mut count = sqlx::query(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM tasks{where_sql} LIMIT {}) AS c",
                cap + 1
            )));
            for b in &binds {
                count = count.bind(b.as_str());
            }
            if let Some(owner) = owner {
                count = count.bind(owner);
            }
            let found: i64 = count
                .fetch_one(&mut *conn)
                .await
                .map_err(sql_err)?
                .try_get(0)
                .map_err(bad_row)?;
            let found = to_count(found);
            if found > cap {
                (cap, false)
            } else {
                (found, true)
            }
        };
        Ok(TaskPage {
            items: with_errors(&mut conn, items).await?,
            total,
            total_exact,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    /// `(paused, limit)` of every configured queue among `queues`.
    async fn settings_of(
        conn: &mut Conn,
        queues: &[String],
        lock: bool,
    ) -> Result<HashMap<String, (bool, Option<u32>)>> {
        let sql = format!(
            "SELECT queue, paused, concurrency_limit FROM task_queues \
             WHERE queue IN ({}) ORDER BY queue{}",
            params(1, queues.len()),
            if lock && PG { " FOR UPDATE" } else { "" }
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for q in queues {
            query = query.bind(q.as_str());
        }
        let mut out = HashMap::new();
        for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
            let queue: String = row.try_get("queue").map_err(bad_row)?;
            let paused: bool = row.try_get("paused").map_err(bad_row)?;
            let limit: Option<i32> = row.try_get("concurrency_limit").map_err(bad_row)?;
            out.insert(queue, (paused, limit_from_db(limit)));
        }
        Ok(out)
    }

    async fn run_claim(
        conn: &mut Conn,
        req: &ClaimRequest,
        groups: &[ClaimGroup],
        guarded: bool,
    ) -> Result<Vec<Task>> {
        let sql = claim_sql(groups, req.kinds.len(), PG, guarded);
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(micros(req.now))
            .bind(req.worker_id.as_str())
            .bind(micros(req.lease_until))
            .bind(i64::from(req.limit));
        for k in &req.kinds {
            query = query.bind(k.as_str());
        }
        for g in groups {
            for q in &g.queues {
                query = query.bind(q.as_str());
            }
            if let Some(cap) = g.cap {
                query = query.bind(cap);
            }
        }
        let rows = query.fetch_all(&mut *conn).await.map_err(sql_err)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut tasks = rows.iter().map(task).collect::<Result<Vec<_>>>()?;
        tasks.sort_by(|a, b| {
            (a.priority, a.run_at, a.id).cmp(&(b.priority, b.run_at, b.id))
        });
        with_errors(conn, tasks).await
    }

    pub(crate) async fn claim(pool: &Pool, req: &ClaimRequest) -> Result<Vec<Task>> {
        if req.limit == 0 || req.queues.is_empty() || req.kinds.is_empty() {
            return Ok(Vec::new());
        }
        let mut queues = req.queues.clone();
        queues.sort();
        queues.dedup();
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        // The common case in one statement: no queue limited (paused ones are skipped
        // by the claim itself). It claims nothing when a queue is limited, and then
        // the settings decide.
        let everything = [ClaimGroup {
            queues: queues.clone(),
            cap: None,
        }];
        let claimed = run_claim(&mut conn, req, &everything, true).await?;
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        let settings = settings_of(&mut conn, &queues, false).await?;
        let limited: Vec<String> = queues
            .iter()
            .filter(|q| matches!(settings.get(*q), Some((false, Some(_)))))
            .cloned()
            .collect();
        let free: Vec<String> = queues
            .iter()
            .filter(|q| !matches!(settings.get(*q), Some((true, _)) | Some((_, Some(_)))))
            .cloned()
            .collect();
        if limited.is_empty() {
            // Nothing was due (or a limit was lifted since the claim above; the next
            // claim sees it).
            return Ok(Vec::new());
        }
        drop(conn);
        // Limited queues: serialise their claims (PostgreSQL locks their settings
        // rows; SQLite's write lock covers everything), then count what runs.
        let mut tx = begin(pool).await?;
        let locked = settings_of(&mut tx, &limited, true).await?;
        let sql = format!(
            "SELECT queue, COUNT(*) FROM tasks WHERE state = 'running' AND queue IN ({}) \
             GROUP BY queue",
            params(1, limited.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for q in &limited {
            query = query.bind(q.as_str());
        }
        let mut running: HashMap<String, i64> = HashMap::new();
        for row in query.fetch_all(&mut *tx).await.map_err(sql_err)? {
            running.insert(
                row.try_get(0).map_err(bad_row)?,
                row.try_get(1).map_err(bad_row)?,
            );
        }
        let mut groups = Vec::new();
        let mut unlimited = free;
        for q in limited {
            match locked.get(&q) {
                Some((true, _)) => {}
                Some((false, Some(limit))) => {
                    let left = i64::from(*limit) - running.get(&q).copied().unwrap_or(0);
                    if left > 0 {
                        groups.push(ClaimGroup {
                            queues: vec![q],
                            cap: Some(left.min(i64::from(req.limit))),
                        });
                    }
                }
                // The limit was lifted (or the settings removed) meanwhile.
                _ => unlimited.push(q),
            }
        }
        if !unlimited.is_empty() {
            groups.push(ClaimGroup {
                queues: unlimited,
                cap: None,
            });
        }
        if groups.is_empty() {
            tx.rollback().await.map_err(sql_err)?;
            return Ok(Vec::new());
        }
        let tasks = run_claim(&mut tx, req, &groups, false).await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(tasks)
    }

    pub(crate) async fn renew(
        pool: &Pool,
        leases: &[Lease],
        until: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        let mut renewed = HashSet::new();
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        for chunk in leases.chunks(RENEW_CHUNK) {
            // Parameters in order: the lease end, then each lease's three.
            let ph = |i: usize| seq(i, 1);
            let conds: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 2 + i * 3;
                    format!(
                        "(id = {} AND worker_id = {} AND attempt = {})",
                        ph(p),
                        ph(p + 1),
                        ph(p + 2)
                    )
                })
                .collect();
            let sql = format!(
                "UPDATE tasks SET lease_expires_at = {} WHERE state = 'running' AND ({}) \
                 RETURNING id",
                ph(1),
                conds.join(" OR ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(micros(until));
            for l in chunk {
                query = query
                    .bind(l.task_id)
                    .bind(l.worker_id.as_str())
                    .bind(l.attempt);
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                renewed.insert(row.try_get::<Uuid, _>(0).map_err(bad_row)?);
            }
        }
        let mut out = Vec::with_capacity(renewed.len());
        for l in leases {
            if renewed.remove(&l.task_id) {
                out.push(l.task_id);
            }
        }
        Ok(out)
    }

    pub(crate) async fn finish(pool: &Pool, batch: &[Finish]) -> Result<Vec<bool>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = begin(pool).await?;
        let mut seen = HashSet::with_capacity(batch.len());
        let applied = if batch.iter().all(|f| seen.insert(f.lease.task_id)) {
            finish_grouped(&mut tx, batch).await?
        } else {
            // A task twice in one batch: apply in order, one by one.
            finish_each(&mut tx, batch).await?
        };
        tx.commit().await.map_err(sql_err)?;
        Ok(applied)
    }

    /// Distinct tasks: one statement per kind of outcome, then their errors in one
    /// insert.
    async fn finish_grouped(tx: &mut Tx, batch: &[Finish]) -> Result<Vec<bool>> {
        let mut done: HashSet<Uuid> = HashSet::with_capacity(batch.len());
        for kind in FinishKind::ALL {
            let items: Vec<&Finish> = batch
                .iter()
                .filter(|f| FinishKind::of(&f.outcome) == kind)
                .collect();
            for chunk in items.chunks(special::FINISH_CHUNK) {
                done.extend(special::finish_chunk(tx, kind, chunk).await?);
            }
        }
        let errors: Vec<(Uuid, i32, DateTime<Utc>, &str)> = batch
            .iter()
            .filter(|f| done.contains(&f.lease.task_id))
            .filter_map(|f| {
                finish_error(&f.outcome)
                    .map(|m| (f.lease.task_id, f.lease.attempt, micros(f.at), m))
            })
            .collect();
        for chunk in errors.chunks(special::INSERT_CHUNK) {
            special::insert_errors(tx, chunk).await?;
        }
        Ok(batch
            .iter()
            .map(|f| done.contains(&f.lease.task_id))
            .collect())
    }

    async fn finish_each(tx: &mut Tx, batch: &[Finish]) -> Result<Vec<bool>> {
        let sql = &*SQL;
        let mut applied = Vec::with_capacity(batch.len());
        for f in batch {
            let l = &f.lease;
            let at = micros(f.at);
            let base = |s: &'static str| {
                sqlx::query(s).bind(l.task_id).bind(l.worker_id.as_str()).bind(l.attempt)
            };
            let (done, error) = match &f.outcome {
                Outcome::Completed { result } => (
                    base(sql.complete.as_str())
                        .bind(result.as_ref().map(Json))
                        .bind(at)
                        .execute(&mut **tx)
                        .await,
                    None,
                ),
                Outcome::Retry { error, at: when } => (
                    base(sql.retry.as_str())
                        .bind(micros(*when))
                        .bind(error.as_str())
                        .execute(&mut **tx)
                        .await,
                    Some(error),
                ),
                Outcome::Failed { error } => (
                    base(sql.fail.as_str())
                        .bind(at)
                        .bind(error.as_str())
                        .execute(&mut **tx)
                        .await,
                    Some(error),
                ),
                Outcome::Snoozed { until } => (
                    base(sql.snooze.as_str())
                        .bind(micros(*until))
                        .execute(&mut **tx)
                        .await,
                    None,
                ),
                Outcome::Released => (
                    base(sql.release.as_str()).bind(at).execute(&mut **tx).await,
                    None,
                ),
            };
            let ok = done.map_err(sql_err)?.rows_affected() == 1;
            if ok && let Some(message) = error {
                sqlx::query(sql.insert_error)
                    .bind(l.task_id)
                    .bind(l.attempt)
                    .bind(at)
                    .bind(message.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(sql_err)?;
            }
            applied.push(ok);
        }
        Ok(applied)
    }

    pub(crate) async fn rescue_expired(pool: &Pool, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let now = micros(now);
        let mut tx = begin(pool).await?;
        let rows = sqlx::query(SQL.rescue.as_str())
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(sql_err)?;
        if rows.is_empty() {
            tx.rollback().await.map_err(sql_err)?;
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get("id").map_err(bad_row)?;
            let attempt: i32 = row.try_get("attempt").map_err(bad_row)?;
            let message: Option<String> = row.try_get("last_error").map_err(bad_row)?;
            sqlx::query(SQL.insert_error)
                .bind(id)
                .bind(attempt)
                .bind(now)
                .bind(message.unwrap_or_default())
                .execute(&mut *tx)
                .await
                .map_err(sql_err)?;
            ids.push(id);
        }
        let tasks = fetch_by_ids(&mut tx, &ids).await?;
        notify_queues(
            &mut tx,
            tasks
                .iter()
                .filter(|t| t.state == TaskState::Retryable)
                .map(|t| t.queue.as_str()),
        )
        .await?;
        tx.commit().await.map_err(sql_err)?;
        Ok(tasks)
    }

    /// Runs a guarded single-task transition; when it matches nothing, says why.
    async fn transition(
        pool: &Pool,
        sql: &'static str,
        id: Uuid,
        now: DateTime<Utc>,
        refuse: impl FnOnce(TaskState) -> String,
    ) -> Result<Task> {
        let mut tx = begin(pool).await?;
        let done = sqlx::query(sql)
            .bind(id)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| match sql_err(e) {
                Error::Conflict(_) => Error::Conflict(format!(
                    "task {id} cannot become available: an unfinished task holds its \
                     unique key"
                )),
                other => other,
            })?;
        let current = fetch_one(&mut tx, id).await?;
        let Some(task) = current else {
            tx.rollback().await.map_err(sql_err)?;
            return Err(Error::not_found("task", id));
        };
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(sql_err)?;
            return Err(Error::Conflict(refuse(task.state)));
        }
        if task.state == TaskState::Available {
            notify_queues(&mut tx, [task.queue.as_str()]).await?;
        }
        tx.commit().await.map_err(sql_err)?;
        Ok(task)
    }

    pub(crate) async fn cancel(pool: &Pool, id: Uuid, now: DateTime<Utc>) -> Result<Task> {
        transition(pool, SQL.cancel.as_str(), id, now, |state| {
            format!("task {id} is already {state}; only unfinished tasks can be cancelled")
        })
        .await
    }

    pub(crate) async fn retry_now(pool: &Pool, id: Uuid, now: DateTime<Utc>) -> Result<Task> {
        transition(pool, SQL.retry_now.as_str(), id, now, |state| {
            format!(
                "task {id} is {state}; only failed, cancelled, retryable or scheduled \
                 tasks can be retried now"
            )
        })
        .await
    }

    pub(crate) async fn report_progress(
        pool: &Pool,
        lease: &Lease,
        progress: &Value,
    ) -> Result<bool> {
        let done = sqlx::query(SQL.progress.as_str())
            .bind(lease.task_id)
            .bind(lease.worker_id.as_str())
            .bind(lease.attempt)
            .bind(Json(progress))
            .execute(pool)
            .await
            .map_err(sql_err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn configure_queue(pool: &Pool, s: &QueueSettings) -> Result<()> {
        let queue = validate_queue(&s.queue)?;
        let limit = limit_to_db(s.concurrency_limit)?;
        let mut tx = begin(pool).await?;
        sqlx::query(
            "INSERT INTO task_queues (queue, paused, concurrency_limit) VALUES ($1, $2, $3) \
             ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused, \
             concurrency_limit = excluded.concurrency_limit",
        )
        .bind(queue.as_str())
        .bind(s.paused)
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(sql_err)?;
        notify_queues(&mut tx, [queue.as_str()]).await?;
        tx.commit().await.map_err(sql_err)
    }

    pub(crate) async fn queue_settings(pool: &Pool, queue: &str) -> Result<QueueSettings> {
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        let found = settings_of(&mut conn, &[queue.to_owned()], false).await?;
        let (paused, concurrency_limit) = found.get(queue).copied().unwrap_or((false, None));
        Ok(QueueSettings {
            queue: queue.to_owned(),
            paused,
            concurrency_limit,
        })
    }

    /// Per `(queue, kind, state)`, the number of tasks: the counters, plus on PostgreSQL the
    /// deltas not folded in yet.
    static COUNTS: LazyLock<String> = LazyLock::new(|| {
        if PG {
            "SELECT queue, kind, state, CAST(SUM(n) AS BIGINT) FROM (\
             SELECT queue, kind, state, n FROM task_counts \
             UNION ALL SELECT queue, kind, state, n FROM task_count_deltas) AS c \
             GROUP BY queue, kind, state HAVING SUM(n) <> 0"
                .to_owned()
        } else {
            "SELECT queue, kind, state, n FROM task_counts WHERE n <> 0".to_owned()
        }
    });

    /// The first second of the stats window ("the last minute") ending at `now`.
    fn window_start(now: DateTime<Utc>) -> i64 {
        now.timestamp() - 60
    }

    pub(crate) async fn stats(pool: &Pool, now: DateTime<Utc>) -> Result<TaskStats> {
        let now = micros(now);
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        let mut queues: BTreeMap<String, QueueStats> = BTreeMap::new();
        let rows = sqlx::query("SELECT queue, paused, concurrency_limit FROM task_queues")
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        for row in rows {
            let q: String = row.try_get(0).map_err(bad_row)?;
            let s = stats_entry(&mut queues, q);
            s.paused = row.try_get(1).map_err(bad_row)?;
            s.concurrency_limit =
                limit_from_db(row.try_get::<Option<i32>, _>(2).map_err(bad_row)?);
        }
        let rows = sqlx::query(COUNTS.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(sql_err)?;
        // Queues with claimable tasks, for the oldest-due lookup below.
        let mut waiting: Vec<String> = Vec::new();
        for row in rows {
            let q: String = row.try_get(0).map_err(bad_row)?;
            let kind: String = row.try_get(1).map_err(bad_row)?;
            let state: TaskState = row.try_get::<String, _>(2).map_err(bad_row)?.parse()?;
            let n = to_count(row.try_get(3).map_err(bad_row)?);
            if n > 0 && TaskState::CLAIMABLE.contains(&state) && !waiting.contains(&q) {
                waiting.push(q.clone());
            }
            let queue = stats_entry(&mut queues, q);
            *queue.states.entry(state).or_default() += n;
            *kind_entry(queue, kind).states.entry(state).or_default() += n;
        }
        let rows = sqlx::query(
            "SELECT queue, kind, CAST(SUM(started) AS BIGINT), \
             CAST(SUM(wait_secs) AS DOUBLE PRECISION), CAST(SUM(completed) AS BIGINT), \
             CAST(SUM(failed) AS BIGINT), CAST(SUM(run_secs) AS DOUBLE PRECISION) \
             FROM task_activity WHERE second >= $1 GROUP BY queue, kind",
        )
        .bind(window_start(now))
        .fetch_all(&mut *conn)
        .await
        .map_err(sql_err)?;
        for row in rows {
            let q: String = row.try_get(0).map_err(bad_row)?;
            let kind: String = row.try_get(1).map_err(bad_row)?;
            let started = to_count(row.try_get(2).map_err(bad_row)?);
            let wait: f64 = row.try_get(3).map_err(bad_row)?;
            let completed = to_count(row.try_get(4).map_err(bad_row)?);
            let failed = to_count(row.try_get(5).map_err(bad_row)?);
            let run: f64 = row.try_get(6).map_err(bad_row)?;
            let queue = stats_entry(&mut queues, q);
            queue.completed_last_minute += completed;
            let k = kind_entry(queue, kind);
            k.completed_last_minute += completed;
            k.failed_last_minute += failed;
            if started > 0 {
                k.average_wait_secs = Some((wait / started as f64).max(0.0));
            }
            if completed + failed > 0 {
                k.average_run_secs = Some((run / (completed + failed) as f64).max(0.0));
            }
        }
        if !waiting.is_empty() {
            for row in oldest_due(&mut conn, &waiting, now).await? {
                let (q, oldest) = row;
                let age = (now - oldest).num_microseconds().unwrap_or(i64::MAX);
                stats_entry(&mut queues, q).oldest_available_age_secs =
                    Some(age.max(0) as f64 / 1e6);
            }
        }
        Ok(TaskStats {
            queues: queues.into_values().collect(),
        })
    }

    /// The `run_at` of the oldest due, claimable task of each of `queues` that has one.
    ///
    /// One index seek per queue and priority (`tasks_claim` is ordered by queue, priority,
    /// `run_at`): the first entry of each is its oldest, due or not, so the cost does not
    /// depend on how many tasks wait.
    async fn oldest_due(
        conn: &mut Conn,
        queues: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>> {
        let mut out = Vec::new();
        for chunk in queues.chunks(LOOKUP_CHUNK) {
            let names: Vec<String> = (0..chunk.len())
                .map(|i| format!("SELECT CAST(${} AS TEXT) AS queue", i + 2))
                .collect();
            let priorities: Vec<String> = (1..=10)
                .map(|p| format!("SELECT {p} AS priority"))
                .collect();
            let sql = format!(
                "SELECT queue, MIN(first_run) FROM (SELECT q.queue AS queue, \
                 (SELECT t.run_at FROM tasks t WHERE t.state IN ({claimable}) \
                 AND t.queue = q.queue AND t.priority = p.priority ORDER BY t.run_at LIMIT 1) \
                 AS first_run FROM ({names}) AS q CROSS JOIN ({priorities}) AS p) AS f \
                 WHERE first_run <= $1 GROUP BY queue",
                claimable = SQL.claimable,
                names = names.join(" UNION ALL "),
                priorities = priorities.join(" UNION ALL "),
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
            for q in chunk {
                query = query.bind(q.as_str());
            }
            for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
                let q: String = row.try_get(0).map_err(bad_row)?;
                let oldest: Option<DateTime<Utc>> = row.try_get(1).map_err(bad_row)?;
                if let Some(oldest) = oldest {
                    out.push((q, oldest));
                }
            }
        }
        Ok(out)
    }

    pub(crate) async fn backlog(
        pool: &Pool,
        queues: &[String],
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, QueueBacklog>> {
        let mut out: BTreeMap<String, QueueBacklog> = BTreeMap::new();
        if queues.is_empty() {
            return Ok(out);
        }
        let mut conn = pool.acquire().await.map_err(sql_err)?;
        let counted = if PG {
            format!(
                "SELECT queue, CAST(SUM(n) AS BIGINT) FROM (\
                 SELECT queue, state, n FROM task_counts \
                 UNION ALL SELECT queue, state, n FROM task_count_deltas) AS c \
                 WHERE state IN ({}) AND queue IN ({}) GROUP BY queue",
                SQL.claimable,
                params(1, queues.len())
            )
        } else {
            format!(
                "SELECT queue, CAST(SUM(n) AS BIGINT) FROM task_counts \
                 WHERE state IN ({}) AND queue IN ({}) GROUP BY queue",
                SQL.claimable,
                params(1, queues.len())
            )
        };
        let mut query = sqlx::query(AssertSqlSafe(counted));
        for q in queues {
            query = query.bind(q.as_str());
        }
        for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
            let q: String = row.try_get(0).map_err(bad_row)?;
            out.entry(q).or_default().waiting = to_count(row.try_get(1).map_err(bad_row)?);
        }
        let activity = format!(
            "SELECT queue, CAST(SUM(completed) AS BIGINT) FROM task_activity \
             WHERE second >= $1 AND queue IN ({}) GROUP BY queue",
            params(2, queues.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(activity)).bind(window_start(now));
        for q in queues {
            query = query.bind(q.as_str());
        }
        for row in query.fetch_all(&mut *conn).await.map_err(sql_err)? {
            let q: String = row.try_get(0).map_err(bad_row)?;
            out.entry(q).or_default().completed_last_minute =
                to_count(row.try_get(1).map_err(bad_row)?);
        }
        Ok(out)
    }

    /// Folds the counter deltas into the counters (PostgreSQL), drops counters at zero and,
    /// given `activity_before` (epoch seconds), the activity older than it.
    pub(crate) async fn compact(pool: &Pool, activity_before: Option<i64>) -> Result<()> {
        let mut tx = begin(pool).await?;
        if PG {
            // One node folds at a time; the others skip rather than queue behind it.
            let row = sqlx::query("SELECT pg_try_advisory_xact_lock($1)")
                .bind(COMPACT_LOCK)
                .fetch_one(&mut *tx)
                .await
                .map_err(sql_err)?;
            let locked: bool = row.try_get(0).map_err(bad_row)?;
            if !locked {
                tx.rollback().await.map_err(sql_err)?;
                return Ok(());
            }
            sqlx::query(
                "WITH moved AS (DELETE FROM task_count_deltas RETURNING queue, kind, state, n) \
                 INSERT INTO task_counts (queue, kind, state, n) \
                 SELECT queue, kind, state, CAST(SUM(n) AS BIGINT) FROM moved \
                 GROUP BY queue, kind, state \
                 ON CONFLICT (queue, kind, state) DO UPDATE SET n = task_counts.n + excluded.n",
            )
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
        }
        sqlx::query("DELETE FROM task_counts WHERE n = 0")
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
        if let Some(before) = activity_before {
            sqlx::query("DELETE FROM task_activity WHERE second < $1")
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(sql_err)?;
        }
        tx.commit().await.map_err(sql_err)
    }

    pub(crate) async fn prune(pool: &Pool, before: DateTime<Utc>) -> Result<u64> {
        static PRUNE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "DELETE FROM tasks WHERE state IN ({}) AND finished_at < $1",
                SQL.finished
            )
        });
        let done = sqlx::query(PRUNE.as_str())
            .bind(micros(before))
            .execute(pool)
            .await
            .map_err(sql_err)?;
        Ok(done.rows_affected())
    }
}
