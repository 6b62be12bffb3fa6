//! [`AuditRepository`] on SQLite and PostgreSQL: append and list, nothing else.

use async_trait::async_trait;
use sea_orm::sea_query::Order;
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use trae_core::{
    ActorKind, ActorRef, AuditEntry, AuditFilter, AuditRepository, Outcome, Page, PageRequest,
    Result,
};
use uuid::Uuid;

use crate::entity::audit::{self, Entity as AuditEntity};
use crate::error::db_error;
use crate::fetch::fetch_page;

/// Audit entries stored in the `audit_log` table.
#[derive(Debug, Clone)]
pub struct SqlAuditRepository {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
}

impl SqlAuditRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: DatabaseConnection, reader: DatabaseConnection) -> Self {
        Self { writer, reader }
    }
}

fn condition(filter: &AuditFilter) -> Condition {
    let mut condition = Condition::all();
    if let Some(actor) = &filter.actor {
        let mut either = Condition::any().add(audit::Column::ActorName.eq(actor.as_str()));
        if let Ok(id) = Uuid::parse_str(actor) {
            either = either.add(audit::Column::ActorId.eq(id));
        }
        condition = condition.add(either);
    }
    if let Some(action) = &filter.action {
        condition = condition.add(audit::Column::Action.eq(action.as_str()));
    }
    if let Some(since) = filter.since {
        condition = condition.add(audit::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        condition = condition.add(audit::Column::At.lt(until));
    }
    condition
}

fn from_model(m: audit::Model) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: m.id,
        at: m.at,
        actor: ActorRef {
            kind: ActorKind::parse(&m.actor_kind)?,
            id: m.actor_id,
            name: m.actor_name,
        },
        action: m.action,
        target: m.target,
        outcome: Outcome::parse(&m.outcome)?,
        ip: m.ip,
        request_id: m.request_id,
        details: m.details,
    })
}

#[async_trait]
impl AuditRepository for SqlAuditRepository {
    async fn append(&self, e: &AuditEntry) -> Result<()> {
        let row = audit::ActiveModel {
            id: ActiveValue::Set(e.id),
            at: ActiveValue::Set(e.at),
            actor_kind: ActiveValue::Set(e.actor.kind.as_str().to_owned()),
            actor_id: ActiveValue::Set(e.actor.id),
            actor_name: ActiveValue::Set(e.actor.name.clone()),
            action: ActiveValue::Set(e.action.clone()),
            target: ActiveValue::Set(e.target.clone()),
            outcome: ActiveValue::Set(e.outcome.as_str().to_owned()),
            ip: ActiveValue::Set(e.ip.clone()),
            request_id: ActiveValue::Set(e.request_id.clone()),
            details: ActiveValue::Set(e.details.clone()),
        };
        AuditEntity::insert(row)
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn list(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>> {
        let select = AuditEntity::find()
            .filter(condition(filter))
            .order_by(audit::Column::At, Order::Desc)
            .order_by(audit::Column::Id, Order::Desc);
        let (rows, total) = fetch_page(select, page, &self.reader).await?;
        Ok(Page {
            items: rows.into_iter().map(from_model).collect::<Result<_>>()?,
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }
}
