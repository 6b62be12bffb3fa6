//! [`AlertRepository`] on SQLite and PostgreSQL, in raw SQL through sqlx. A rule's spec is
//! stored as JSON; at most one alert per rule and series is firing, by a partial unique index.

use crate::sql_pools::{Pools, on_engine, per_engine};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use sqlx::{AssertSqlSafe, Row};
use trae_core::monitoring::metric_series::{labels_key, parse_labels_key};
use trae_core::{
    Alert, AlertFilter, AlertRepository, AlertRule, AlertRuleSpec, AlertState, Comparison, Error,
    Page, PageRequest, Result, Severity,
};
use uuid::Uuid;

/// Alert rules and alerts in the `alert_rules` and `alerts` tables.
#[derive(Debug, Clone)]
pub struct SqlAlertRepository {
    pools: Pools,
}

impl SqlAlertRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: &DatabaseConnection, reader: &DatabaseConnection) -> Self {
        let pools = Pools::new(writer, reader);
        Self { pools }
    }
}

#[allow(clippy::needless_pass_by_value)] // a `map_err` adapter
fn sql_err(err: sqlx::Error) -> Error {
    crate::error::sqlx_error(&err, "alert")
}

/// A taken rule name, said plainly.
fn name_conflict(err: Error, name: &str) -> Error {
    match err {
        Error::Conflict(_) => {
            Error::Conflict(format!("an alert rule named {name:?} already exists"))
        }
        other => other,
    }
}

fn spec_json(spec: &AlertRuleSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| Error::Storage(format!("alert rule spec: {e}")))
}

const ALERT_COLUMNS: &str = "id, rule_id, rule_name, metric, labels, severity, comparison, \
    threshold, value, state, fired_at, resolved_at, resolved_value";

per_engine! {
    fn rule_of(row: &DbRow) -> Result<AlertRule> {
        let spec: String = row.try_get("spec").map_err(sql_err)?;
        Ok(AlertRule {
            id: row.try_get("id").map_err(sql_err)?,
            spec: serde_json::from_str(&spec)
                .map_err(|e| Error::Storage(format!("stored alert rule spec: {e}")))?,
            created_at: row.try_get("created_at").map_err(sql_err)?,
            updated_at: row.try_get("updated_at").map_err(sql_err)?,
        })
    }

    fn alert_of(row: &DbRow) -> Result<Alert> {
        let text = |col: &str| row.try_get::<String, _>(col).map_err(sql_err);
        let severity = text("severity")?;
        let comparison = text("comparison")?;
        let state = text("state")?;
        Ok(Alert {
            id: row.try_get("id").map_err(sql_err)?,
            rule_id: row.try_get("rule_id").map_err(sql_err)?,
            rule_name: text("rule_name")?,
            metric: text("metric")?,
            labels: parse_labels_key(&text("labels")?),
            severity: Severity::parse(&severity).ok_or_else(|| {
                Error::Storage(format!("stored alert severity {severity:?}"))
            })?,
            comparison: Comparison::parse(&comparison).ok_or_else(|| {
                Error::Storage(format!("stored alert comparison {comparison:?}"))
            })?,
            threshold: row.try_get("threshold").map_err(sql_err)?,
            value: row.try_get("value").map_err(sql_err)?,
            state: AlertState::parse(&state)
                .ok_or_else(|| Error::Storage(format!("stored alert state {state:?}")))?,
            fired_at: row.try_get("fired_at").map_err(sql_err)?,
            resolved_at: row.try_get("resolved_at").map_err(sql_err)?,
            resolved_value: row.try_get("resolved_value").map_err(sql_err)?,
        })
    }

    pub(super) async fn insert_rule(pool: &Pool, rule: &AlertRule) -> Result<()> {
        sqlx::query(
            "INSERT INTO alert_rules (id, name, spec, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(rule.id)
        .bind(rule.spec.name.as_str())
        .bind(spec_json(&rule.spec)?)
        .bind(rule.created_at)
        .bind(rule.updated_at)
        .execute(pool)
        .await
        .map_err(|e| name_conflict(sql_err(e), &rule.spec.name))?;
        Ok(())
    }

    pub(super) async fn update_rule(pool: &Pool, rule: &AlertRule) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE alert_rules SET name = $2, spec = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(rule.id)
        .bind(rule.spec.name.as_str())
        .bind(spec_json(&rule.spec)?)
        .bind(rule.updated_at)
        .execute(pool)
        .await
        .map_err(|e| name_conflict(sql_err(e), &rule.spec.name))?
        .rows_affected()
            > 0)
    }

    pub(super) async fn delete_rule(pool: &Pool, id: Uuid) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM alert_rules WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map_err(sql_err)?
            .rows_affected()
            > 0)
    }

    pub(super) async fn get_rule(pool: &Pool, id: Uuid) -> Result<Option<AlertRule>> {
        sqlx::query(
            "SELECT id, spec, created_at, updated_at FROM alert_rules WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?
        .as_ref()
        .map(rule_of)
        .transpose()
    }

    pub(super) async fn list_rules(pool: &Pool) -> Result<Vec<AlertRule>> {
        sqlx::query(
            "SELECT id, spec, created_at, updated_at FROM alert_rules ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .map_err(sql_err)?
        .iter()
        .map(rule_of)
        .collect()
    }

    pub(super) async fn open_alert(pool: &Pool, a: &Alert) -> Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO alerts (id, rule_id, rule_name, metric, labels, severity, \
             comparison, threshold, value, state, fired_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'firing', $10) \
             ON CONFLICT DO NOTHING",
        )
        .bind(a.id)
        .bind(a.rule_id)
        .bind(a.rule_name.as_str())
        .bind(a.metric.as_str())
        .bind(labels_key(&a.labels))
        .bind(a.severity.as_str())
        .bind(a.comparison.as_str())
        .bind(a.threshold)
        .bind(a.value)
        .bind(a.fired_at)
        .execute(pool)
        .await
        .map_err(sql_err)?
        .rows_affected()
            == 1)
    }

    pub(super) async fn resolve_alert(
        pool: &Pool,
        rule_id: Uuid,
        labels: &str,
        at: DateTime<Utc>,
        value: Option<f64>,
    ) -> Result<Option<Alert>> {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE alerts SET state = 'resolved', resolved_at = $3, resolved_value = $4 \
             WHERE rule_id = $1 AND labels = $2 AND state = 'firing' \
             RETURNING {ALERT_COLUMNS}"
        )))
        .bind(rule_id)
        .bind(labels)
        .bind(at)
        .bind(value)
        .fetch_optional(pool)
        .await
        .map_err(sql_err)?
        .as_ref()
        .map(alert_of)
        .transpose()
    }

    pub(super) async fn firing(pool: &Pool) -> Result<Vec<Alert>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'firing' ORDER BY fired_at"
        )))
        .fetch_all(pool)
        .await
        .map_err(sql_err)?
        .iter()
        .map(alert_of)
        .collect()
    }

    pub(super) async fn list_alerts(
        pool: &Pool,
        filter: &AlertFilter,
        page: PageRequest,
    ) -> Result<Page<Alert>> {
        let mut conds = Vec::new();
        if filter.state.is_some() {
            conds.push(format!("state = ${}", conds.len() + 1));
        }
        if filter.rule_id.is_some() {
            conds.push(format!("rule_id = ${}", conds.len() + 1));
        }
        let where_sql = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let bind_all = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            if let Some(state) = filter.state {
                q = q.bind(state.as_str());
            }
            if let Some(rule) = filter.rule_id {
                q = q.bind(rule);
            }
            q
        };
        let total: i64 = bind_all(format!("SELECT COUNT(*) FROM alerts{where_sql}"))
            .fetch_one(pool)
            .await
            .map_err(sql_err)?
            .try_get(0)
            .map_err(sql_err)?;
        let items = bind_all(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts{where_sql} \
             ORDER BY fired_at DESC, id DESC LIMIT {} OFFSET {}",
            page.limit(),
            page.offset()
        ))
        .fetch_all(pool)
        .await
        .map_err(sql_err)?
        .iter()
        .map(alert_of)
        .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
            limit: page.limit(),
            offset: page.offset(),
        })
    }
}

#[async_trait]
impl AlertRepository for SqlAlertRepository {
    async fn insert_rule(&self, rule: &AlertRule) -> Result<()> {
        on_engine!(self.pools, writer, insert_rule(rule))
    }

    async fn update_rule(&self, rule: &AlertRule) -> Result<bool> {
        on_engine!(self.pools, writer, update_rule(rule))
    }

    async fn delete_rule(&self, id: Uuid) -> Result<bool> {
        on_engine!(self.pools, writer, delete_rule(id))
    }

    async fn get_rule(&self, id: Uuid) -> Result<Option<AlertRule>> {
        on_engine!(self.pools, reader, get_rule(id))
    }

    async fn list_rules(&self) -> Result<Vec<AlertRule>> {
        on_engine!(self.pools, reader, list_rules())
    }

    async fn open_alert(&self, alert: &Alert) -> Result<bool> {
        on_engine!(self.pools, writer, open_alert(alert))
    }

    async fn resolve_alert(
        &self,
        rule_id: Uuid,
        labels: &str,
        at: DateTime<Utc>,
        value: Option<f64>,
    ) -> Result<Option<Alert>> {
        on_engine!(
            self.pools,
            writer,
            resolve_alert(rule_id, labels, at, value)
        )
    }

    async fn firing(&self) -> Result<Vec<Alert>> {
        // From the writer: evaluation must see the alert it just opened.
        on_engine!(self.pools, writer, firing())
    }

    async fn list_alerts(&self, filter: &AlertFilter, page: PageRequest) -> Result<Page<Alert>> {
        on_engine!(self.pools, reader, list_alerts(filter, page))
    }
}
