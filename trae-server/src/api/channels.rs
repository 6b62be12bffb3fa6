//! `/api/channels`: where content is published (`content:read`, `content:write`).

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_core::PageRequest;
use trae_core::content::{ChannelFilter, Channels};
use uuid::Uuid;

use super::ApiTags;
use super::content_wire::{Deleted, PlatformBody, input, output, outputs};
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The channels router.
#[derive(Debug, Clone)]
pub struct ChannelsApi {
    channels: Channels,
}

impl ChannelsApi {
    /// A router over the channels service, which decides who may do what.
    pub fn new(channels: Channels) -> Self {
        Self { channels }
    }
}

/// A channel.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Channel")]
pub struct ChannelBody {
    /// Identifier.
    pub id: Uuid,
    /// Unique name, 1–200 characters.
    pub name: String,
    /// Where it publishes.
    pub platform: PlatformBody,
    /// Its address, http or https.
    pub url: Option<String>,
    /// What it is about.
    pub description: Option<String>,
    /// Who it is for.
    pub target_audience: Option<String>,
    /// How it plans its content.
    pub content_strategy: Option<String>,
    /// When it publishes.
    pub posting_schedule: Option<String>,
    /// Whether it is in use.
    pub is_active: bool,
    /// Audience figures, a JSON object.
    pub metrics: serde_json::Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A channel to create.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewChannel", deny_unknown_fields)]
pub struct NewChannelBody {
    /// Unique name, 1–200 characters.
    pub name: String,
    /// Where it publishes (default other).
    pub platform: Option<PlatformBody>,
    /// Its address, http or https.
    pub url: Option<String>,
    /// What it is about.
    pub description: Option<String>,
    /// Who it is for.
    pub target_audience: Option<String>,
    /// How it plans its content.
    pub content_strategy: Option<String>,
    /// When it publishes, free text.
    pub posting_schedule: Option<String>,
    /// Whether it is in use (default true).
    pub is_active: Option<bool>,
    /// Audience figures, a JSON object of at most 64 KiB.
    pub metrics: Option<serde_json::Value>,
}

/// Fields to change; absent fields keep their value.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChannelPatch", deny_unknown_fields)]
pub struct ChannelPatchBody {
    /// New name.
    pub name: Option<String>,
    /// New platform.
    pub platform: Option<PlatformBody>,
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
    #[oai(default)]
    pub clear: Vec<String>,
}

/// A created channel.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The channel was created.
    #[oai(status = 201)]
    Created(Json<ChannelBody>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Content")]
impl ChannelsApi {
    /// List channels (content:read)
    ///
    /// By name. Filter by `platform` and `is_active`; page with `limit` (1–500, default 50)
    /// and `offset`.
    #[oai(path = "/api/channels", method = "get", operation_id = "list_channels")]
    async fn list(
        &self,
        auth: Auth,
        platform: Query<Option<PlatformBody>>,
        is_active: Query<Option<bool>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<ChannelBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = ChannelFilter {
            platform: platform.0.map(Into::into),
            is_active: is_active.0,
        };
        let page = self.channels.list(auth.principal(), filter, page).await?;
        Ok(Json(Page {
            items: outputs(&page.items)?,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }))
    }

    /// Create a channel (content:write)
    #[oai(
        path = "/api/channels",
        method = "post",
        operation_id = "create_channel"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: JsonBody<NewChannelBody>,
    ) -> Result<Created, ApiError> {
        let principal = auth.principal();
        let channel = self.channels.create(principal, input(&body.0)?).await?;
        let location = format!("/api/channels/{}", channel.id);
        Ok(Created::Created(Json(output(&channel)?), location))
    }

    /// Get a channel (content:read)
    #[oai(
        path = "/api/channels/:id",
        method = "get",
        operation_id = "get_channel"
    )]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<ChannelBody>, ApiError> {
        Ok(Json(output(
            &self.channels.get(auth.principal(), id.0).await?,
        )?))
    }

    /// Change some fields of a channel (content:write)
    #[oai(
        path = "/api/channels/:id",
        method = "patch",
        operation_id = "update_channel"
    )]
    async fn update(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<ChannelPatchBody>,
    ) -> Result<Json<ChannelBody>, ApiError> {
        let principal = auth.principal();
        let channel = self
            .channels
            .update(principal, id.0, input(&body.0)?)
            .await?;
        Ok(Json(output(&channel)?))
    }

    /// Delete a channel (content:write)
    ///
    /// While personas use the channel this is 409 `conflict`, unless `detach=true`, which
    /// clears their channel first (a new version of each persona).
    #[oai(
        path = "/api/channels/:id",
        method = "delete",
        operation_id = "delete_channel"
    )]
    async fn delete(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        detach: Query<Option<bool>>,
    ) -> Result<Deleted, ApiError> {
        let principal = auth.principal();
        self.channels
            .delete(principal, id.0, detach.0.unwrap_or(false))
            .await?;
        Ok(Deleted::Deleted)
    }
}
