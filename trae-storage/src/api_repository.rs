//! [`ApiRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx: the registry's
//! endpoints (spec as JSON beside the columns routing and filters read), the attempt log
//! appended in batches, and usage totals kept beside it in the same transaction.

use crate::sql_pools::{Pools, on_engine, per_engine};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sqlx::{AssertSqlSafe, Row};
use trae_core::apis::api_endpoint::{
    ApiActivity, ApiAttempt, ApiEndpoint, ApiEndpointFilter, ApiEndpointSpec, ApiRepository,
    ApiUsage, HealthUpdate, usage_deltas, usage_from_totals,
};
use trae_core::{Error, HealthStatus, Page, PageRequest, Result, SecretBinding};

/// Rows per INSERT (13 parameters each, under SQLite's and PostgreSQL's limits).
const CHUNK: usize = 300;

/// The registry in the `api_endpoints`, `api_attempts` and `api_usage` tables.
#[derive(Debug, Clone)]
pub struct SqlApiRepository {
    pools: Pools,
}

impl SqlApiRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        let pools = Pools::new(writer, reader);
        Self { pools }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "api")
}

/// Tags as stored: `,a,b,` so one tag is found with a plain substring test.
fn tags_column(tags: &[String]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!(",{},", tags.join(","))
    }
}

fn spec_json(spec: &ApiEndpointSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| Error::Storage(format!("encoding an API spec: {e}")))
}

fn parse_health(s: &str) -> HealthStatus {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).unwrap_or(HealthStatus::Unknown)
}

const ENDPOINT_COLUMNS: &str = "name, spec, secret_binding, health, consecutive_failures, \
                                last_check_at, last_error, created_at, updated_at";

fn binding_json(binding: Option<&SecretBinding>) -> Result<Option<String>> {
    binding
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Storage(format!("encoding a secret binding: {e}")))
}

fn insert_attempts_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let b = r * 16;
            let params: Vec<String> = (1..=16).map(|i| format!("${}", b + i)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO api_attempts (id, endpoint, method, path, status, latency_ms, \
         request_bytes, response_bytes, error, success, cost, request_id, at, model, \
         prompt_tokens, completion_tokens) VALUES {}",
        values.join(", ")
    )
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn tokens(v: Option<i64>) -> Option<u32> {
    v.map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

per_engine! {
    sqlite {
        const FIND: &str = "instr";
    }
    postgres {
        const FIND: &str = "strpos";
    }

    fn endpoint(row: &DbRow) -> Result<ApiEndpoint> {
        let read = || -> std::result::Result<_, sqlx::Error> {
            Ok((
                row.try_get::<String, _>("spec")?,
                row.try_get::<Option<String>, _>("secret_binding")?,
                row.try_get::<String, _>("health")?,
                row.try_get::<i32, _>("consecutive_failures")?,
                row.try_get::<Option<DateTime<Utc>>, _>("last_check_at")?,
                row.try_get::<Option<String>, _>("last_error")?,
                row.try_get::<DateTime<Utc>, _>("created_at")?,
                row.try_get::<DateTime<Utc>, _>("updated_at")?,
            ))
        };
        let (spec, binding, health, failures, last_check_at, last_error, created_at, updated_at) =
            read().map_err(sql_err)?;
        let spec: ApiEndpointSpec = serde_json::from_str(&spec).map_err(|e| {
            Error::Storage(format!("a stored API spec does not decode: {e}"))
        })?;
        let secret_binding = binding
            .map(|b| serde_json::from_str::<SecretBinding>(&b))
            .transpose()
            .map_err(|e| Error::Storage(format!("a stored secret binding does not decode: {e}")))?;
        Ok(ApiEndpoint {
            spec,
            secret_binding,
            health: parse_health(&health),
            consecutive_failures: u32::try_from(failures).unwrap_or(0),
            last_check_at,
            last_error,
            created_at,
            updated_at,
        })
    }

    fn attempt(row: &DbRow) -> std::result::Result<ApiAttempt, sqlx::Error> {
        let status: Option<i32> = row.try_get("status")?;
        Ok(ApiAttempt {
            id: row.try_get("id")?,
            endpoint: row.try_get("endpoint")?,
            method: row.try_get("method")?,
            path: row.try_get("path")?,
            status: status.and_then(|s| u16::try_from(s).ok()),
            latency_ms: to_u64(row.try_get("latency_ms")?),
            request_bytes: to_u64(row.try_get("request_bytes")?),
            response_bytes: to_u64(row.try_get("response_bytes")?),
            error: row.try_get("error")?,
            success: row.try_get("success")?,
            cost: row.try_get("cost")?,
            request_id: row.try_get("request_id")?,
            at: row.try_get("at")?,
            model: row.try_get("model")?,
            prompt_tokens: tokens(row.try_get("prompt_tokens")?),
            completion_tokens: tokens(row.try_get("completion_tokens")?),
        })
    }

    pub(super) async fn insert(pool: &Pool, e: &ApiEndpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_endpoints (name, capability, priority, is_active, tags, \
             spec, health, consecutive_failures, last_check_at, last_error, created_at, \
             updated_at, secret_binding) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(e.spec.name.as_str())
        .bind(e.spec.capability.as_str())
        .bind(e.spec.priority)
        .bind(e.spec.is_active)
        .bind(tags_column(&e.spec.tags))
        .bind(spec_json(&e.spec)?)
        .bind(e.health.as_str())
        .bind(i32::try_from(e.consecutive_failures).unwrap_or(i32::MAX))
        .bind(e.last_check_at)
        .bind(e.last_error.as_deref())
        .bind(e.created_at)
        .bind(e.updated_at)
        .bind(binding_json(e.secret_binding.as_ref())?)
        .execute(pool)
        .await
        .map_err(|err| match crate::error::sqlx_error(&err, "api") {
            Error::Conflict(_) => Error::Conflict(format!(
                "an API endpoint named {} already exists",
                e.spec.name
            )),
            other => other,
        })?;
        Ok(())
    }

    pub(super) async fn update_spec(
        pool: &Pool,
        spec: &ApiEndpointSpec,
        binding: Option<&SecretBinding>,
        at: DateTime<Utc>,
    ) -> Result<ApiEndpoint> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE api_endpoints SET capability = $2, priority = $3, is_active = $4, \
             tags = $5, spec = $6, updated_at = $7, secret_binding = $8 WHERE name = $1 \
             RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(spec.name.as_str())
        .bind(spec.capability.as_str())
        .bind(spec.priority)
        .bind(spec.is_active)
        .bind(tags_column(&spec.tags))
        .bind(spec_json(spec)?)
        .bind(at)
        .bind(binding_json(binding)?)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?
        .ok_or_else(|| Error::not_found("api", &spec.name))?;
        endpoint(&row)
    }

    pub(super) async fn update_health(
        pool: &Pool,
        name: &str,
        u: &HealthUpdate,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE api_endpoints SET health = $2, consecutive_failures = $3, \
             last_check_at = COALESCE($4, last_check_at), last_error = $5, \
             updated_at = $6 WHERE name = $1",
        )
        .bind(name)
        .bind(u.health.as_str())
        .bind(i32::try_from(u.consecutive_failures).unwrap_or(i32::MAX))
        .bind(u.checked_at)
        .bind(u.last_error.as_deref())
        .bind(at)
        .execute(pool)
        .await
        .map_err(sql_err)?;
        Ok(())
    }

    pub(super) async fn delete(pool: &Pool, name: &str) -> Result<bool> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        let gone = sqlx::query("DELETE FROM api_endpoints WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?
            .rows_affected();
        for sql in [
            "DELETE FROM api_attempts WHERE endpoint = $1",
            "DELETE FROM api_usage WHERE endpoint = $1",
        ] {
            sqlx::query(sql)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(sql_err)?;
        }
        tx.commit().await.map_err(sql_err)?;
        Ok(gone > 0)
    }

    pub(super) async fn get(pool: &Pool, name: &str) -> Result<Option<ApiEndpoint>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM api_endpoints WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?;
        row.as_ref().map(endpoint).transpose()
    }

    pub(super) async fn list(
        pool: &Pool,
        filter: &ApiEndpointFilter,
        page: Option<PageRequest>,
    ) -> Result<Page<ApiEndpoint>> {
        let mut conds = Vec::new();
        let mut texts = Vec::new();
        if let Some(c) = &filter.capability {
            texts.push(c.clone());
            conds.push(format!("capability = ${}", texts.len()));
        }
        if let Some(tag) = &filter.tag {
            texts.push(format!(",{tag},"));
            conds.push(format!("{FIND}(tags, ${}) > 0", texts.len()));
        }
        if let Some(active) = filter.is_active {
            conds.push(format!("is_active = {}", if active { "TRUE" } else { "FALSE" }));
        }
        let where_sql = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let bind_all = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for t in &texts {
                q = q.bind(t.clone());
            }
            q
        };
        let total: i64 = bind_all(format!("SELECT COUNT(*) FROM api_endpoints{where_sql}"))
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let window = page.map_or(String::new(), |p| {
            format!(" LIMIT {} OFFSET {}", p.limit(), p.offset())
        });
        let rows = bind_all(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM api_endpoints{where_sql} \
             ORDER BY priority, name{window}"
        ))
        .fetch_all(pool)
        .await
        .map_err(sql_err)?;
        let items = rows.iter().map(endpoint).collect::<Result<Vec<_>>>()?;
        let (limit, offset) = page.map_or((items.len() as u32, 0), |p| (p.limit(), p.offset()));
        Ok(Page {
            items,
            total: to_u64(total),
            limit,
            offset,
        })
    }

    pub(super) async fn record_attempts(pool: &Pool, attempts: &[ApiAttempt]) -> Result<()> {
        let mut tx = pool.begin().await.map_err(sql_err)?;
        // Attempts of an endpoint deleted meanwhile are dropped with it.
        let names: Vec<String> = sqlx::query("SELECT name FROM api_endpoints")
            .fetch_all(&mut *tx)
            .await
            .map_err(sql_err)?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(sql_err)?;
        let kept: Vec<ApiAttempt> = attempts
            .iter()
            .filter(|a| names.contains(&a.endpoint))
            .cloned()
            .collect();
        for chunk in kept.chunks(CHUNK) {
            let mut q = sqlx::query(AssertSqlSafe(insert_attempts_sql(chunk.len())));
            for a in chunk {
                q = q
                    .bind(a.id)
                    .bind(a.endpoint.as_str())
                    .bind(a.method.as_str())
                    .bind(a.path.as_str())
                    .bind(a.status.map(i32::from))
                    .bind(to_i64(a.latency_ms))
                    .bind(to_i64(a.request_bytes))
                    .bind(to_i64(a.response_bytes))
                    .bind(a.error.as_deref())
                    .bind(a.success)
                    .bind(a.cost)
                    .bind(a.request_id.as_deref())
                    .bind(a.at)
                    .bind(a.model.as_deref())
                    .bind(a.prompt_tokens.map(i64::from))
                    .bind(a.completion_tokens.map(i64::from));
            }
            q.execute(&mut *tx).await.map_err(sql_err)?;
        }
        for (endpoint, d) in usage_deltas(&kept) {
            sqlx::query(
                "INSERT INTO api_usage (endpoint, total, successes, latency_ms_sum, \
                 cost, last_used_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (endpoint) DO UPDATE SET \
                 total = api_usage.total + excluded.total, \
                 successes = api_usage.successes + excluded.successes, \
                 latency_ms_sum = api_usage.latency_ms_sum + excluded.latency_ms_sum, \
                 cost = api_usage.cost + excluded.cost, \
                 last_used_at = CASE WHEN api_usage.last_used_at IS NULL \
                   OR api_usage.last_used_at < excluded.last_used_at \
                   THEN excluded.last_used_at ELSE api_usage.last_used_at END",
            )
            .bind(endpoint)
            .bind(to_i64(d.total))
            .bind(to_i64(d.successes))
            .bind(to_i64(d.latency_ms_sum))
            .bind(d.cost)
            .bind(d.last_at)
            .execute(&mut *tx)
            .await
            .map_err(sql_err)?;
        }
        tx.commit().await.map_err(sql_err)
    }

    pub(super) async fn attempts(
        pool: &Pool,
        name: &str,
        page: PageRequest,
    ) -> Result<Page<ApiAttempt>> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM api_attempts WHERE endpoint = $1")
            .bind(name)
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, endpoint, method, path, status, latency_ms, request_bytes, \
             response_bytes, error, success, cost, request_id, at, model, prompt_tokens, \
             completion_tokens FROM api_attempts \
             WHERE endpoint = $1 ORDER BY at DESC, id DESC LIMIT {} OFFSET {}",
            page.limit(),
            page.offset()
        )))
        .bind(name)
        .fetch_all(pool)
        .await
        .map_err(sql_err)?;
        let items = rows
            .iter()
            .map(attempt)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(sql_err)?;
        Ok(Page {
            items,
            total: to_u64(total),
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    pub(super) async fn attempt_times(
        pool: &Pool,
        name: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>> {
        sqlx::query("SELECT at FROM api_attempts WHERE endpoint = $1 AND at >= $2 ORDER BY at")
            .bind(name)
            .bind(since)
            .fetch_all(pool)
            .await
            .map_err(sql_err)?
            .iter()
            .map(|r| r.try_get::<DateTime<Utc>, _>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(sql_err)
    }

    pub(super) async fn usage(pool: &Pool, name: &str) -> Result<ApiUsage> {
        let row = sqlx::query(
            "SELECT total, successes, latency_ms_sum, cost, last_used_at FROM api_usage \
             WHERE endpoint = $1",
        )
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?;
        let Some(row) = row else {
            return Ok(usage_from_totals(name, 0, 0, 0, 0.0, None));
        };
        let read = || -> std::result::Result<ApiUsage, sqlx::Error> {
            Ok(usage_from_totals(
                name,
                to_u64(row.try_get("total")?),
                to_u64(row.try_get("successes")?),
                to_u64(row.try_get("latency_ms_sum")?),
                row.try_get("cost")?,
                row.try_get("last_used_at")?,
            ))
        };
        read().map_err(sql_err)
    }

    pub(super) async fn activity(
        pool: &Pool,
        since: DateTime<Utc>,
    ) -> Result<Vec<ApiActivity>> {
        let rows = sqlx::query(
            "SELECT endpoint, COUNT(*), \
             SUM(CASE WHEN success THEN 0 ELSE 1 END), \
             CAST(AVG(latency_ms) AS DOUBLE PRECISION) \
             FROM api_attempts WHERE at >= $1 GROUP BY endpoint ORDER BY endpoint",
        )
        .bind(since)
        .fetch_all(pool)
        .await
        .map_err(sql_err)?;
        rows.iter()
            .map(|row| {
                Ok(ApiActivity {
                    endpoint: row.try_get(0)?,
                    calls: to_u64(row.try_get(1)?),
                    failures: to_u64(row.try_get(2)?),
                    average_latency_ms: row.try_get(3)?,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(sql_err)
    }

    pub(super) async fn trim(pool: &Pool, before: DateTime<Utc>) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM api_attempts WHERE at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map_err(sql_err)?
            .rows_affected())
    }
}

#[async_trait]
impl ApiRepository for SqlApiRepository {
    async fn insert(&self, endpoint: &ApiEndpoint) -> Result<()> {
        on_engine!(self.pools, writer, insert(endpoint))
    }

    async fn update_spec(
        &self,
        spec: &ApiEndpointSpec,
        binding: Option<&SecretBinding>,
        updated_at: DateTime<Utc>,
    ) -> Result<ApiEndpoint> {
        on_engine!(self.pools, writer, update_spec(spec, binding, updated_at))
    }

    async fn update_health(
        &self,
        name: &str,
        update: &HealthUpdate,
        at: DateTime<Utc>,
    ) -> Result<()> {
        on_engine!(self.pools, writer, update_health(name, update, at))
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        on_engine!(self.pools, writer, delete(name))
    }

    async fn get(&self, name: &str) -> Result<Option<ApiEndpoint>> {
        on_engine!(self.pools, reader, get(name))
    }

    async fn list(
        &self,
        filter: &ApiEndpointFilter,
        page: PageRequest,
    ) -> Result<Page<ApiEndpoint>> {
        on_engine!(self.pools, reader, list(filter, Some(page)))
    }

    async fn all(&self) -> Result<Vec<ApiEndpoint>> {
        let filter = ApiEndpointFilter::default();
        let page = on_engine!(self.pools, reader, list(&filter, None))?;
        Ok(page.items)
    }

    async fn record_attempts(&self, attempts: &[ApiAttempt]) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        on_engine!(self.pools, writer, record_attempts(attempts))
    }

    async fn attempts(&self, name: &str, page: PageRequest) -> Result<Page<ApiAttempt>> {
        on_engine!(self.pools, reader, attempts(name, page))
    }

    async fn attempt_times(&self, name: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
        on_engine!(self.pools, reader, attempt_times(name, since))
    }

    async fn usage(&self, name: &str) -> Result<ApiUsage> {
        on_engine!(self.pools, reader, usage(name))
    }

    async fn activity(&self, since: DateTime<Utc>) -> Result<Vec<ApiActivity>> {
        on_engine!(self.pools, reader, activity(since))
    }

    async fn trim_attempts(&self, before: DateTime<Utc>) -> Result<u64> {
        on_engine!(self.pools, writer, trim(before))
    }
}
