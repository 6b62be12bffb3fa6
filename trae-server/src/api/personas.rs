//! `/api/personas`: author personas, their versions and their system prompts
//! (`content:read`, `content:write`).

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_core::PageRequest;
use trae_core::content::{PersonaFilter, Personas};
use uuid::Uuid;

use super::ApiTags;
use super::content_wire::{Deleted, VocabularyLevelBody, input, output, outputs};
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The personas router.
#[derive(Debug, Clone)]
pub struct PersonasApi {
    personas: Personas,
}

impl PersonasApi {
    /// A router over the personas service, which decides who may do what.
    pub fn new(personas: Personas) -> Self {
        Self { personas }
    }
}

/// A persona, its traits resolved through its parents.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Persona")]
pub struct PersonaBody {
    /// Identifier.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Whether it is in use.
    pub is_active: bool,
    /// The current version (1 at creation, one more per change).
    pub version: i64,
    /// The persona this one is a variant of.
    pub parent_id: Option<Uuid>,
    /// Who the persona is.
    pub description: Option<String>,
    /// How it writes.
    pub writing_style: Option<String>,
    /// Its personality.
    pub personality_traits: Option<Vec<String>>,
    /// What it knows about.
    pub expertise_areas: Option<Vec<String>>,
    /// Its tone.
    pub tone: Option<String>,
    /// The words it may use.
    pub vocabulary_level: Option<VocabularyLevelBody>,
    /// Who it writes for.
    pub target_audience: Option<String>,
    /// The channel it writes for.
    pub channel_id: Option<Uuid>,
    /// What it writes.
    pub content_types: Option<Vec<String>>,
    /// The traits above that come from a parent, by name.
    pub inherited: Vec<String>,
    /// How many times its prompt was rendered.
    pub usage_count: i64,
    /// When its prompt was last rendered.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One version of a persona: what it set itself after a change.
#[derive(Debug, Clone, Object)]
#[oai(rename = "PersonaVersion")]
pub struct PersonaVersionBody {
    /// The persona.
    pub persona_id: Uuid,
    /// The version number.
    pub version: i64,
    /// Its name then.
    pub name: String,
    /// Whether it was active then.
    pub is_active: bool,
    /// Its parent then.
    pub parent_id: Option<Uuid>,
    /// Its own description then.
    pub description: Option<String>,
    /// Its own writing style then.
    pub writing_style: Option<String>,
    /// Its own personality traits then.
    pub personality_traits: Option<Vec<String>>,
    /// Its own expertise areas then.
    pub expertise_areas: Option<Vec<String>>,
    /// Its own tone then.
    pub tone: Option<String>,
    /// Its own vocabulary level then.
    pub vocabulary_level: Option<VocabularyLevelBody>,
    /// Its own audience then.
    pub target_audience: Option<String>,
    /// Its own channel then.
    pub channel_id: Option<Uuid>,
    /// Its own content types then.
    pub content_types: Option<Vec<String>>,
    /// When the version was made.
    pub changed_at: DateTime<Utc>,
    /// Who made it: `user:<id>`, `api_key:<id>` or `system`.
    pub changed_by: String,
}

/// A persona rendered as an LLM system prompt.
#[derive(Debug, Clone, Object)]
#[oai(rename = "PersonaPrompt")]
pub struct PersonaPromptBody {
    /// The persona.
    pub persona_id: Uuid,
    /// Its name.
    pub name: String,
    /// The version rendered.
    pub version: i64,
    /// The system prompt.
    pub prompt: String,
}

/// A persona to create.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewPersona", deny_unknown_fields)]
pub struct NewPersonaBody {
    /// Unique name, 1–200 characters.
    pub name: String,
    /// Whether it is in use (default true).
    pub is_active: Option<bool>,
    /// Make it a variant of this persona: it inherits every trait it does not set.
    pub parent_id: Option<Uuid>,
    /// Who the persona is.
    pub description: Option<String>,
    /// How it writes.
    pub writing_style: Option<String>,
    /// Its personality, as distinct traits.
    pub personality_traits: Option<Vec<String>>,
    /// What it knows about.
    pub expertise_areas: Option<Vec<String>>,
    /// Its tone.
    pub tone: Option<String>,
    /// The words it may use.
    pub vocabulary_level: Option<VocabularyLevelBody>,
    /// Who it writes for.
    pub target_audience: Option<String>,
    /// The channel it writes for.
    pub channel_id: Option<Uuid>,
    /// What it writes.
    pub content_types: Option<Vec<String>>,
}

/// Fields to change (a new version); absent fields keep their value.
#[derive(Debug, Clone, Object)]
#[oai(rename = "PersonaPatch", deny_unknown_fields)]
pub struct PersonaPatchBody {
    /// New name.
    pub name: Option<String>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// Make it a variant of this persona.
    pub parent_id: Option<Uuid>,
    /// New description.
    pub description: Option<String>,
    /// New writing style.
    pub writing_style: Option<String>,
    /// New personality traits.
    pub personality_traits: Option<Vec<String>>,
    /// New expertise areas.
    pub expertise_areas: Option<Vec<String>>,
    /// New tone.
    pub tone: Option<String>,
    /// New vocabulary level.
    pub vocabulary_level: Option<VocabularyLevelBody>,
    /// New audience.
    pub target_audience: Option<String>,
    /// New channel.
    pub channel_id: Option<Uuid>,
    /// New content types.
    pub content_types: Option<Vec<String>>,
    /// Traits to unset (a variant then inherits them) or `parent_id`.
    #[oai(default)]
    pub clear: Vec<String>,
}

/// A created persona.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The persona was created at version 1.
    #[oai(status = 201)]
    Created(Json<PersonaBody>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Content")]
impl PersonasApi {
    /// List personas (content:read)
    ///
    /// By name, traits resolved. Filter by `channel_id` (set by the persona itself),
    /// `parent_id` (its variants) and `is_active`.
    #[oai(path = "/api/personas", method = "get", operation_id = "list_personas")]
    async fn list(
        &self,
        auth: Auth,
        channel_id: Query<Option<Uuid>>,
        parent_id: Query<Option<Uuid>>,
        is_active: Query<Option<bool>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<PersonaBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = PersonaFilter {
            channel_id: channel_id.0,
            parent_id: parent_id.0,
            is_active: is_active.0,
        };
        let page = self.personas.list(auth.principal(), filter, page).await?;
        Ok(Json(Page {
            items: outputs(&page.items)?,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }))
    }

    /// Create a persona (content:write)
    #[oai(
        path = "/api/personas",
        method = "post",
        operation_id = "create_persona"
    )]
    async fn create(
        &self,
        auth: Auth,
        body: JsonBody<NewPersonaBody>,
    ) -> Result<Created, ApiError> {
        let principal = auth.principal();
        let persona = self.personas.create(principal, input(&body.0)?).await?;
        let location = format!("/api/personas/{}", persona.id);
        Ok(Created::Created(Json(output(&persona)?), location))
    }

    /// Get a persona (content:read)
    #[oai(
        path = "/api/personas/:id",
        method = "get",
        operation_id = "get_persona"
    )]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<PersonaBody>, ApiError> {
        Ok(Json(output(
            &self.personas.get(auth.principal(), id.0).await?,
        )?))
    }

    /// Change a persona, making a new version (content:write)
    ///
    /// A patch that changes nothing makes no version.
    #[oai(
        path = "/api/personas/:id",
        method = "patch",
        operation_id = "update_persona"
    )]
    async fn update(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<PersonaPatchBody>,
    ) -> Result<Json<PersonaBody>, ApiError> {
        let principal = auth.principal();
        let persona = self
            .personas
            .update(principal, id.0, input(&body.0)?)
            .await?;
        Ok(Json(output(&persona)?))
    }

    /// Delete a persona and its history (content:write)
    ///
    /// 409 `conflict` while variants name it as their parent.
    #[oai(
        path = "/api/personas/:id",
        method = "delete",
        operation_id = "delete_persona"
    )]
    async fn delete(&self, auth: Auth, id: Path<Uuid>) -> Result<Deleted, ApiError> {
        let principal = auth.principal();
        self.personas.delete(principal, id.0).await?;
        Ok(Deleted::Deleted)
    }

    /// Every version of a persona, oldest first (content:read)
    #[oai(
        path = "/api/personas/:id/versions",
        method = "get",
        operation_id = "list_persona_versions"
    )]
    async fn versions(
        &self,
        auth: Auth,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<PersonaVersionBody>>, ApiError> {
        Ok(Json(outputs(
            &self.personas.versions(auth.principal(), id.0).await?,
        )?))
    }

    /// One version of a persona (content:read)
    #[oai(
        path = "/api/personas/:id/versions/:n",
        method = "get",
        operation_id = "get_persona_version"
    )]
    async fn version(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        n: Path<i64>,
    ) -> Result<Json<PersonaVersionBody>, ApiError> {
        Ok(Json(output(
            &self.personas.version(auth.principal(), id.0, n.0).await?,
        )?))
    }

    /// The persona as an LLM system prompt (content:read)
    ///
    /// Renders the current version, traits inherited included, and counts one use
    /// (`usage_count`, `last_used_at`).
    #[oai(
        path = "/api/personas/:id/prompt",
        method = "get",
        operation_id = "get_persona_prompt"
    )]
    async fn prompt(
        &self,
        auth: Auth,
        id: Path<Uuid>,
    ) -> Result<Json<PersonaPromptBody>, ApiError> {
        Ok(Json(output(
            &self.personas.prompt(auth.principal(), id.0).await?,
        )?))
    }
}
