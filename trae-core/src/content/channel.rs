//! Channels: where content is published (a YouTube channel, a blog, a newsletter), with the
//! audience and strategy personas write for.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CONTENT_READ, CONTENT_WRITE};
use super::{LONG_MAX_CHARS, SHORT_MAX_CHARS, clearing, optional_text, text, url, wire_enum};
use crate::identity::permission::{Authorizer, Gate};
use crate::{Clock, Error, EventBus, Page, PageRequest, Principal, Result};

/// The largest `metrics` object, serialized, in bytes.
pub const METRICS_MAX_BYTES: usize = 64 * 1024;

wire_enum!(
    /// Where a channel publishes.
    Platform, "platform", {
        /// YouTube.
        Youtube => "youtube",
        /// Twitter / X.
        Twitter => "twitter",
        /// TikTok.
        Tiktok => "tiktok",
        /// Instagram.
        Instagram => "instagram",
        /// A blog.
        Blog => "blog",
        /// A podcast.
        Podcast => "podcast",
        /// A newsletter.
        Newsletter => "newsletter",
        /// Anything else.
        Other => "other",
    }
);

/// A stored channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Identifier (UUIDv7).
    pub id: Uuid,
    /// Unique name, 1–200 characters.
    pub name: String,
    /// Where it publishes.
    pub platform: Platform,
    /// Its address, http or https.
    pub url: Option<String>,
    /// What it is about.
    pub description: Option<String>,
    /// Who it is for.
    pub target_audience: Option<String>,
    /// How it plans its content.
    pub content_strategy: Option<String>,
    /// When it publishes, free text ("weekdays 9:00 UTC").
    pub posting_schedule: Option<String>,
    /// Whether it is in use.
    pub is_active: bool,
    /// Audience figures as a JSON object (followers, views…), kept as given.
    pub metrics: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The fields of a channel to create.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Unique name.
    pub name: String,
    /// Where it publishes.
    pub platform: Option<Platform>,
    /// Its address.
    pub url: Option<String>,
    /// What it is about.
    pub description: Option<String>,
    /// Who it is for.
    pub target_audience: Option<String>,
    /// How it plans its content.
    pub content_strategy: Option<String>,
    /// When it publishes.
    pub posting_schedule: Option<String>,
    /// Whether it is in use (default true).
    pub is_active: Option<bool>,
    /// Audience figures, a JSON object (default `{}`).
    pub metrics: Option<serde_json::Value>,
}

/// A partial update: `None` keeps a field, `clear` names optional fields to empty.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    /// New name.
    pub name: Option<String>,
    /// New platform.
    pub platform: Option<Platform>,
    /// New address.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New audience.
    pub target_audience: Option<String>,
    /// New strategy.
    pub content_strategy: Option<String>,
    /// New schedule.
    pub posting_schedule: Option<String>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// New metrics, replacing the old object.
    pub metrics: Option<serde_json::Value>,
    /// Optional fields to empty: url, description, target_audience, content_strategy,
    /// posting_schedule.
    #[serde(default)]
    pub clear: Vec<String>,
}

const CLEARABLE: &[&str] = &[
    "url",
    "description",
    "target_audience",
    "content_strategy",
    "posting_schedule",
];

/// Which channels a list returns (by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelFilter {
    /// Only this platform.
    pub platform: Option<Platform>,
    /// Only active (true) or inactive (false) channels.
    pub is_active: Option<bool>,
}

/// What deleting a channel did, as the repository reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelDeletion {
    /// Deleted; this many personas were detached from it.
    Deleted {
        /// Personas whose channel was cleared.
        detached: u64,
    },
    /// Not deleted: this many personas use it and detaching was not asked for.
    InUse {
        /// Personas naming the channel.
        personas: u64,
    },
    /// No such channel.
    NotFound,
}

/// Storage of channels. Lists are ordered by name.
#[async_trait]
pub trait ChannelRepository: Send + Sync + 'static {
    /// Stores a new channel; `Conflict` when the name is taken.
    async fn insert(&self, channel: &Channel) -> Result<()>;
    /// Reads one channel.
    async fn get(&self, id: Uuid) -> Result<Option<Channel>>;
    /// Lists channels matching `filter`.
    async fn list(&self, filter: &ChannelFilter, page: PageRequest) -> Result<Page<Channel>>;
    /// Replaces a channel's fields; false when it no longer exists.
    async fn update(&self, channel: &Channel) -> Result<bool>;
    /// Deletes a channel in one transaction: refused while personas use it unless `detach`,
    /// in which case their channel is cleared (a new persona version each, stamped `at`
    /// and `by`) first.
    async fn delete(
        &self,
        id: Uuid,
        detach: bool,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<ChannelDeletion>;
}

/// The channels service.
#[derive(Clone)]
pub struct Channels {
    gate: Gate,
    repo: Arc<dyn ChannelRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels").finish_non_exhaustive()
    }
}

/// The event source content services publish under.
pub const EVENT_SOURCE: &str = "content";

fn metrics(value: Option<serde_json::Value>) -> Result<serde_json::Value> {
    let value = value.unwrap_or_else(|| serde_json::json!({}));
    if !value.is_object() {
        return Err(Error::validation("metrics", "must be a JSON object"));
    }
    let size = value.to_string().len();
    if size > METRICS_MAX_BYTES {
        return Err(Error::validation(
            "metrics",
            format!("must be at most {METRICS_MAX_BYTES} bytes as JSON, got {size}"),
        ));
    }
    Ok(value)
}

impl Channels {
    /// A service over `repo`.
    pub fn new(
        repo: Arc<dyn ChannelRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            repo,
            clock,
            gate: Gate::default(),
            events,
        }
    }

    /// The service deciding who may read and change with `authorizer` (by default only the
    /// system may act).
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// Creates a channel.
    pub async fn create(&self, principal: &Principal, input: NewChannel) -> Result<Channel> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let now = self.clock.now_micros();
        let channel = Channel {
            id: Uuid::now_v7(),
            name: text("name", &input.name, SHORT_MAX_CHARS, false)?,
            platform: input.platform.unwrap_or(Platform::Other),
            url: url("url", input.url.as_deref())?,
            description: optional_text(
                "description",
                input.description.as_deref(),
                LONG_MAX_CHARS,
                true,
            )?,
            target_audience: optional_text(
                "target_audience",
                input.target_audience.as_deref(),
                LONG_MAX_CHARS,
                true,
            )?,
            content_strategy: optional_text(
                "content_strategy",
                input.content_strategy.as_deref(),
                LONG_MAX_CHARS,
                true,
            )?,
            posting_schedule: optional_text(
                "posting_schedule",
                input.posting_schedule.as_deref(),
                SHORT_MAX_CHARS,
                false,
            )?,
            is_active: input.is_active.unwrap_or(true),
            metrics: metrics(input.metrics)?,
            created_at: now,
            updated_at: now,
        };
        self.repo
            .insert(&channel)
            .await
            .map_err(|e| name_taken(e, &channel.name))?;
        self.publish("channel.created", &channel);
        Ok(channel)
    }

    /// Reads a channel.
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Channel> {
        self.gate.check(principal, CONTENT_READ).await?;
        self.find(id).await
    }

    /// Reads a record for a caller already authorized.
    async fn find(&self, id: Uuid) -> Result<Channel> {
        self.repo
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found("channel", id))
    }

    /// Lists channels by name.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: ChannelFilter,
        page: PageRequest,
    ) -> Result<Page<Channel>> {
        self.gate.check(principal, CONTENT_READ).await?;
        self.repo.list(&filter, page).await
    }

    /// Changes the fields named in `patch`.
    pub async fn update(
        &self,
        principal: &Principal,
        id: Uuid,
        patch: ChannelPatch,
    ) -> Result<Channel> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let cleared = clearing(&patch.clear, CLEARABLE)?;
        let mut channel = self.find(id).await?;
        if let Some(name) = &patch.name {
            channel.name = text("name", name, SHORT_MAX_CHARS, false)?;
        }
        if let Some(platform) = patch.platform {
            channel.platform = platform;
        }
        let long =
            |field: &str, v: &Option<String>, old: Option<String>| -> Result<Option<String>> {
                if cleared(field) {
                    return Ok(None);
                }
                match v {
                    Some(v) => optional_text(field, Some(v), LONG_MAX_CHARS, true),
                    None => Ok(old),
                }
            };
        channel.url = if cleared("url") {
            None
        } else if patch.url.is_some() {
            url("url", patch.url.as_deref())?
        } else {
            channel.url
        };
        channel.description = long("description", &patch.description, channel.description)?;
        channel.target_audience = long(
            "target_audience",
            &patch.target_audience,
            channel.target_audience,
        )?;
        channel.content_strategy = long(
            "content_strategy",
            &patch.content_strategy,
            channel.content_strategy,
        )?;
        channel.posting_schedule = if cleared("posting_schedule") {
            None
        } else if patch.posting_schedule.is_some() {
            optional_text(
                "posting_schedule",
                patch.posting_schedule.as_deref(),
                SHORT_MAX_CHARS,
                false,
            )?
        } else {
            channel.posting_schedule
        };
        if let Some(active) = patch.is_active {
            channel.is_active = active;
        }
        if patch.metrics.is_some() {
            channel.metrics = metrics(patch.metrics)?;
        }
        channel.updated_at = self.clock.now_micros().max(channel.created_at);
        if !self
            .repo
            .update(&channel)
            .await
            .map_err(|e| name_taken(e, &channel.name))?
        {
            return Err(Error::not_found("channel", id));
        }
        self.publish("channel.updated", &channel);
        Ok(channel)
    }

    /// Deletes a channel. While personas use it this is `Conflict`, unless `detach`, which
    /// clears their channel first; answers how many personas were detached.
    pub async fn delete(&self, principal: &Principal, id: Uuid, detach: bool) -> Result<u64> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let at = self.clock.now_micros();
        match self
            .repo
            .delete(id, detach, at, &principal.created_by())
            .await?
        {
            ChannelDeletion::Deleted { detached } => {
                self.events.publish(
                    EVENT_SOURCE,
                    "channel.deleted",
                    serde_json::json!({ "id": id, "detached_personas": detached }),
                );
                Ok(detached)
            }
            ChannelDeletion::InUse { personas } => Err(Error::Conflict(format!(
                "{personas} persona(s) use this channel; delete with detach=true to clear \
                 their channel first"
            ))),
            ChannelDeletion::NotFound => Err(Error::not_found("channel", id)),
        }
    }

    fn publish(&self, kind: &str, channel: &Channel) {
        let payload = serde_json::to_value(channel).unwrap_or_default();
        self.events.publish(EVENT_SOURCE, kind, payload);
    }
}

fn name_taken(err: Error, name: &str) -> Error {
    match err {
        Error::Conflict(_) => Error::Conflict(format!("a channel named {name:?} already exists")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_from_their_wire_names() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>().unwrap(), *p);
        }
        let err = "YouTube".parse::<Platform>().unwrap_err();
        assert!(err.to_string().contains("youtube, twitter"), "{err}");
    }

    #[test]
    fn metrics_must_be_a_bounded_object() {
        assert_eq!(metrics(None).unwrap(), serde_json::json!({}));
        assert!(metrics(Some(serde_json::json!([1]))).is_err());
        let big = serde_json::json!({ "x": "a".repeat(METRICS_MAX_BYTES) });
        assert!(metrics(Some(big)).is_err());
    }
}
