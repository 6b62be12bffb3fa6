//! Author personas: the voices content is written in. A persona keeps its history (every
//! change is a new numbered version) and may be a variant of another persona, inheriting
//! from the parent's current version every trait it does not set itself. A persona renders
//! to the system prompt an LLM writes with.

use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::channel::EVENT_SOURCE;
use super::{CONTENT_READ, CONTENT_WRITE};
use super::{
    ChannelRepository, LONG_MAX_CHARS, SHORT_MAX_CHARS, clearing, list, optional_text, text,
    wire_enum,
};
use crate::identity::permission::{Authorizer, Gate};
use crate::{Clock, Error, EventBus, Page, PageRequest, Principal, Result};

/// How deep a chain of variants may go (a persona, its parent, the parent's parent…).
pub const MAX_DEPTH: usize = 8;

wire_enum!(
    /// The words a persona may use.
    VocabularyLevel, "vocabulary_level", {
        /// Plain everyday words.
        Basic => "basic",
        /// Common words; terms of art explained.
        Intermediate => "intermediate",
        /// Precise vocabulary; specialist terms defined.
        Advanced => "advanced",
        /// The field's full vocabulary.
        Expert => "expert",
    }
);

impl VocabularyLevel {
    fn guidance(self) -> &'static str {
        match self {
            Self::Basic => "plain everyday words and short sentences",
            Self::Intermediate => "common words, explaining any term of art",
            Self::Advanced => "precise vocabulary, defining only specialist terms",
            Self::Expert => "the field's full vocabulary without explanation",
        }
    }
}

/// The traits a persona sets. On a variant, a trait left `None` is inherited from the parent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaTraits {
    /// Who the persona is.
    pub description: Option<String>,
    /// How it writes.
    pub writing_style: Option<String>,
    /// Its personality, as a list of traits.
    pub personality_traits: Option<Vec<String>>,
    /// What it knows about.
    pub expertise_areas: Option<Vec<String>>,
    /// Its tone ("warm", "dry").
    pub tone: Option<String>,
    /// The words it may use.
    pub vocabulary_level: Option<VocabularyLevel>,
    /// Who it writes for.
    pub target_audience: Option<String>,
    /// The channel it writes for.
    pub channel_id: Option<Uuid>,
    /// What it writes (scripts, threads, articles).
    pub content_types: Option<Vec<String>>,
}

/// The names of [`PersonaTraits`]' fields, as `inherited` and `clear` use them.
pub const TRAITS: &[&str] = &[
    "description",
    "writing_style",
    "personality_traits",
    "expertise_areas",
    "tone",
    "vocabulary_level",
    "target_audience",
    "channel_id",
    "content_types",
];

impl PersonaTraits {
    /// The traits validated: texts trimmed and bounded, lists distinct.
    pub fn validated(self) -> Result<Self> {
        let short =
            |f: &str, v: &Option<String>| optional_text(f, v.as_deref(), SHORT_MAX_CHARS, false);
        let long =
            |f: &str, v: &Option<String>| optional_text(f, v.as_deref(), LONG_MAX_CHARS, true);
        let items = |f: &str, v: &Option<Vec<String>>| v.as_deref().map(|v| list(f, v)).transpose();
        Ok(Self {
            description: long("description", &self.description)?,
            writing_style: long("writing_style", &self.writing_style)?,
            personality_traits: items("personality_traits", &self.personality_traits)?,
            expertise_areas: items("expertise_areas", &self.expertise_areas)?,
            tone: short("tone", &self.tone)?,
            vocabulary_level: self.vocabulary_level,
            target_audience: long("target_audience", &self.target_audience)?,
            channel_id: self.channel_id,
            content_types: items("content_types", &self.content_types)?,
        })
    }

    /// Whether the trait named `name` is set.
    fn is_set(&self, name: &str) -> bool {
        match name {
            "description" => self.description.is_some(),
            "writing_style" => self.writing_style.is_some(),
            "personality_traits" => self.personality_traits.is_some(),
            "expertise_areas" => self.expertise_areas.is_some(),
            "tone" => self.tone.is_some(),
            "vocabulary_level" => self.vocabulary_level.is_some(),
            "target_audience" => self.target_audience.is_some(),
            "channel_id" => self.channel_id.is_some(),
            "content_types" => self.content_types.is_some(),
            _ => false,
        }
    }

    /// Unsets the trait named `name`.
    fn unset(&mut self, name: &str) {
        match name {
            "description" => self.description = None,
            "writing_style" => self.writing_style = None,
            "personality_traits" => self.personality_traits = None,
            "expertise_areas" => self.expertise_areas = None,
            "tone" => self.tone = None,
            "vocabulary_level" => self.vocabulary_level = None,
            "target_audience" => self.target_audience = None,
            "channel_id" => self.channel_id = None,
            "content_types" => self.content_types = None,
            _ => {}
        }
    }

    /// These traits with every trait `over` sets replaced by its value.
    fn overlaid(mut self, over: &Self) -> Self {
        macro_rules! take {
            ($($f:ident),*) => { $(if over.$f.is_some() { self.$f = over.$f.clone(); })* };
        }
        take!(
            description,
            writing_style,
            personality_traits,
            expertise_areas,
            tone,
            vocabulary_level,
            target_audience,
            channel_id,
            content_types
        );
        self
    }
}

/// A persona as stored: its own traits only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaRecord {
    /// Identifier (UUIDv7).
    pub id: Uuid,
    /// Unique name, 1–200 characters.
    pub name: String,
    /// Whether it is in use.
    pub is_active: bool,
    /// The current version, 1 at creation, one more per change.
    pub version: i64,
    /// The persona this one is a variant of.
    pub parent_id: Option<Uuid>,
    /// The traits this persona sets itself.
    pub traits: PersonaTraits,
    /// How many times its prompt was rendered for use.
    pub usage_count: i64,
    /// When its prompt was last rendered for use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A persona as users see it: its traits resolved through its parents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Persona {
    /// Identifier.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Whether it is in use.
    pub is_active: bool,
    /// The current version.
    pub version: i64,
    /// The persona this one is a variant of.
    pub parent_id: Option<Uuid>,
    /// Every trait, its own or inherited.
    #[serde(flatten)]
    pub traits: PersonaTraits,
    /// The traits that come from a parent, by name.
    pub inherited: Vec<String>,
    /// How many times its prompt was rendered for use.
    pub usage_count: i64,
    /// When its prompt was last rendered for use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One version of a persona: what it set itself after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaVersion {
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
    /// The traits it set itself then.
    #[serde(flatten)]
    pub traits: PersonaTraits,
    /// When the version was made.
    pub changed_at: DateTime<Utc>,
    /// Who made it: `user:<id>`, `api_key:<id>` or `system`.
    pub changed_by: String,
}

/// A persona rendered as an LLM system prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonaPrompt {
    /// The persona.
    pub persona_id: Uuid,
    /// Its name.
    pub name: String,
    /// The version rendered.
    pub version: i64,
    /// The system prompt.
    pub prompt: String,
}

/// The fields of a persona to create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPersona {
    /// Unique name.
    pub name: String,
    /// Whether it is in use (default true).
    pub is_active: Option<bool>,
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
    pub vocabulary_level: Option<VocabularyLevel>,
    /// Who it writes for.
    pub target_audience: Option<String>,
    /// The channel it writes for.
    pub channel_id: Option<Uuid>,
    /// What it writes.
    pub content_types: Option<Vec<String>>,
}

/// A change to a persona: `None` keeps a field, `clear` unsets traits (a variant then
/// inherits them) or `parent_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonaPatch {
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
    pub vocabulary_level: Option<VocabularyLevel>,
    /// New audience.
    pub target_audience: Option<String>,
    /// New channel.
    pub channel_id: Option<Uuid>,
    /// New content types.
    pub content_types: Option<Vec<String>>,
    /// Traits (or `parent_id`) to unset.
    #[serde(default)]
    pub clear: Vec<String>,
}

/// Which personas a list returns (by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonaFilter {
    /// Only personas that set this channel themselves.
    pub channel_id: Option<Uuid>,
    /// Only variants of this persona.
    pub parent_id: Option<Uuid>,
    /// Only active (true) or inactive (false) personas.
    pub is_active: Option<bool>,
}

/// Storage of personas and their versions. Lists are ordered by name.
#[async_trait]
pub trait PersonaRepository: Send + Sync + 'static {
    /// Stores a new persona and its version 1, made by `by`; `Conflict` when the name is taken.
    async fn insert(&self, persona: &PersonaRecord, by: &str) -> Result<()>;
    /// Reads one persona.
    async fn get(&self, id: Uuid) -> Result<Option<PersonaRecord>>;
    /// Lists personas matching `filter`.
    async fn list(&self, filter: &PersonaFilter, page: PageRequest) -> Result<Page<PersonaRecord>>;
    /// Stores `persona` (whose version is one more than `expected`) and its version row, if
    /// the stored version is still `expected`; false otherwise or when it is gone.
    async fn update(&self, persona: &PersonaRecord, expected: i64, by: &str) -> Result<bool>;
    /// Deletes a persona and its versions; false when it did not exist, `Conflict` while
    /// variants name it as their parent.
    async fn delete(&self, id: Uuid) -> Result<bool>;
    /// Every version of a persona, oldest first.
    async fn versions(&self, id: Uuid) -> Result<Vec<PersonaVersion>>;
    /// One version of a persona.
    async fn version(&self, id: Uuid, version: i64) -> Result<Option<PersonaVersion>>;
    /// Counts one use at `at`; false when the persona is gone.
    async fn record_use(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool>;
}

/// The personas service.
#[derive(Clone)]
pub struct Personas {
    gate: Gate,
    repo: Arc<dyn PersonaRepository>,
    channels: Arc<dyn ChannelRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
}

impl fmt::Debug for Personas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Personas").finish_non_exhaustive()
    }
}

impl Personas {
    /// A service over `repo`, checking channels in `channels`.
    pub fn new(
        repo: Arc<dyn PersonaRepository>,
        channels: Arc<dyn ChannelRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            repo,
            channels,
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

    /// Creates a persona at version 1.
    pub async fn create(&self, principal: &Principal, input: NewPersona) -> Result<Persona> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let traits = PersonaTraits {
            description: input.description,
            writing_style: input.writing_style,
            personality_traits: input.personality_traits,
            expertise_areas: input.expertise_areas,
            tone: input.tone,
            vocabulary_level: input.vocabulary_level,
            target_audience: input.target_audience,
            channel_id: input.channel_id,
            content_types: input.content_types,
        }
        .validated()?;
        let id = Uuid::now_v7();
        self.check_references(id, input.parent_id, traits.channel_id)
            .await?;
        let now = self.clock.now_micros();
        let record = PersonaRecord {
            id,
            name: text("name", &input.name, SHORT_MAX_CHARS, false)?,
            is_active: input.is_active.unwrap_or(true),
            version: 1,
            parent_id: input.parent_id,
            traits,
            usage_count: 0,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        self.repo
            .insert(&record, &principal.created_by())
            .await
            .map_err(|e| name_taken(e, &record.name))?;
        let persona = self.resolve(record).await?;
        self.publish("persona.created", &persona);
        Ok(persona)
    }

    /// Reads a persona with its traits resolved through its parents.
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Persona> {
        self.gate.check(principal, CONTENT_READ).await?;
        self.find(id).await
    }

    /// Reads a record for a caller already authorized.
    async fn find(&self, id: Uuid) -> Result<Persona> {
        let record = self.record(id).await?;
        self.resolve(record).await
    }

    /// Lists personas by name, traits resolved.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: PersonaFilter,
        page: PageRequest,
    ) -> Result<Page<Persona>> {
        self.gate.check(principal, CONTENT_READ).await?;
        let records = self.repo.list(&filter, page).await?;
        let mut items = Vec::with_capacity(records.items.len());
        for record in records.items {
            items.push(self.resolve(record).await?);
        }
        Ok(Page {
            items,
            total: records.total,
            limit: records.limit,
            offset: records.offset,
        })
    }

    /// Applies `patch` as a new version; a patch that changes nothing makes no version.
    pub async fn update(
        &self,
        principal: &Principal,
        id: Uuid,
        patch: PersonaPatch,
    ) -> Result<Persona> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let mut clearable: Vec<&str> = TRAITS.to_vec();
        clearable.push("parent_id");
        let cleared = clearing(&patch.clear, &clearable)?;
        let given = PersonaTraits {
            description: patch.description,
            writing_style: patch.writing_style,
            personality_traits: patch.personality_traits,
            expertise_areas: patch.expertise_areas,
            tone: patch.tone,
            vocabulary_level: patch.vocabulary_level,
            target_audience: patch.target_audience,
            channel_id: patch.channel_id,
            content_types: patch.content_types,
        }
        .validated()?;
        let name = patch
            .name
            .as_deref()
            .map(|n| text("name", n, SHORT_MAX_CHARS, false))
            .transpose()?;
        let old = self.record(id).await?;
        let mut next = old.clone();
        next.traits = old.traits.clone().overlaid(&given);
        for field in TRAITS {
            if cleared(field) {
                next.traits.unset(field);
            }
        }
        if let Some(name) = name {
            next.name = name;
        }
        if let Some(active) = patch.is_active {
            next.is_active = active;
        }
        if patch.parent_id.is_some() {
            next.parent_id = patch.parent_id;
        }
        if cleared("parent_id") {
            next.parent_id = None;
        }
        if next == old {
            return self.resolve(old).await;
        }
        let new_parent = next.parent_id.filter(|p| Some(*p) != old.parent_id);
        let new_channel = next
            .traits
            .channel_id
            .filter(|c| Some(*c) != old.traits.channel_id);
        self.check_references(id, new_parent, new_channel).await?;
        next.version = old.version + 1;
        next.updated_at = self.clock.now_micros().max(old.created_at);
        if !self
            .repo
            .update(&next, old.version, &principal.created_by())
            .await
            .map_err(|e| name_taken(e, &next.name))?
        {
            return match self.repo.get(id).await? {
                None => Err(Error::not_found("persona", id)),
                Some(_) => Err(Error::Conflict(
                    "the persona changed while this update was made; read it and try again".into(),
                )),
            };
        }
        let persona = self.resolve(next).await?;
        self.publish("persona.updated", &persona);
        Ok(persona)
    }

    /// Deletes a persona and its history; `Conflict` while variants name it as their parent.
    pub async fn delete(&self, principal: &Principal, id: Uuid) -> Result<()> {
        self.gate.check(principal, CONTENT_WRITE).await?;
        let variants = self
            .repo
            .list(
                &PersonaFilter {
                    parent_id: Some(id),
                    ..PersonaFilter::default()
                },
                PageRequest::new(Some(1), None)?,
            )
            .await?
            .total;
        if variants > 0 {
            return Err(Error::Conflict(format!(
                "{variants} variant(s) inherit from this persona; delete them or clear their \
                 parent_id first"
            )));
        }
        if !self.repo.delete(id).await? {
            return Err(Error::not_found("persona", id));
        }
        self.events.publish(
            EVENT_SOURCE,
            "persona.deleted",
            serde_json::json!({ "id": id }),
        );
        Ok(())
    }

    /// Every version of a persona, oldest first.
    pub async fn versions(&self, principal: &Principal, id: Uuid) -> Result<Vec<PersonaVersion>> {
        self.gate.check(principal, CONTENT_READ).await?;
        let versions = self.repo.versions(id).await?;
        if versions.is_empty() {
            return Err(Error::not_found("persona", id));
        }
        Ok(versions)
    }

    /// Version `n` of a persona.
    pub async fn version(&self, principal: &Principal, id: Uuid, n: i64) -> Result<PersonaVersion> {
        self.gate.check(principal, CONTENT_READ).await?;
        self.repo
            .version(id, n)
            .await?
            .ok_or_else(|| Error::not_found("persona version", format!("{id} v{n}")))
    }

    /// Renders the persona's current version as an LLM system prompt and counts one use.
    pub async fn prompt(&self, principal: &Principal, id: Uuid) -> Result<PersonaPrompt> {
        self.gate.check(principal, CONTENT_READ).await?;
        let persona = self.find(id).await?;
        let channel = match persona.traits.channel_id {
            Some(channel) => self.channels.get(channel).await?,
            None => None,
        };
        let prompt = render_prompt(&persona, channel.as_ref());
        if !self.repo.record_use(id, self.clock.now_micros()).await? {
            return Err(Error::not_found("persona", id));
        }
        Ok(PersonaPrompt {
            persona_id: persona.id,
            name: persona.name,
            version: persona.version,
            prompt,
        })
    }

    async fn record(&self, id: Uuid) -> Result<PersonaRecord> {
        self.repo
            .get(id)
            .await?
            .ok_or_else(|| Error::not_found("persona", id))
    }

    /// The parent exists and does not make a cycle or too deep a chain; the channel exists.
    async fn check_references(
        &self,
        id: Uuid,
        parent: Option<Uuid>,
        channel: Option<Uuid>,
    ) -> Result<()> {
        if let Some(channel) = channel
            && self.channels.get(channel).await?.is_none()
        {
            return Err(Error::validation(
                "channel_id",
                format!("no channel with id {channel}"),
            ));
        }
        let mut next = parent;
        let mut depth = 1;
        while let Some(ancestor) = next {
            if ancestor == id {
                return Err(Error::validation(
                    "parent_id",
                    "a persona cannot be its own ancestor",
                ));
            }
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(Error::validation(
                    "parent_id",
                    format!("variants may be at most {MAX_DEPTH} levels deep"),
                ));
            }
            let Some(record) = self.repo.get(ancestor).await? else {
                return Err(Error::validation(
                    "parent_id",
                    format!("no persona with id {ancestor}"),
                ));
            };
            next = record.parent_id;
        }
        Ok(())
    }

    /// The record's traits laid over its ancestors' current ones.
    async fn resolve(&self, record: PersonaRecord) -> Result<Persona> {
        let mut chain = Vec::new();
        let mut next = record.parent_id;
        while let Some(id) = next {
            if chain.len() >= MAX_DEPTH || id == record.id {
                break;
            }
            match self.repo.get(id).await? {
                Some(parent) => {
                    next = parent.parent_id;
                    chain.push(parent.traits);
                }
                None => break,
            }
        }
        let inherited_base = chain
            .iter()
            .rev()
            .fold(PersonaTraits::default(), |acc, t| acc.overlaid(t));
        let traits = inherited_base.clone().overlaid(&record.traits);
        let inherited = TRAITS
            .iter()
            .filter(|f| !record.traits.is_set(f) && inherited_base.is_set(f))
            .map(|f| (*f).to_owned())
            .collect();
        Ok(Persona {
            id: record.id,
            name: record.name,
            is_active: record.is_active,
            version: record.version,
            parent_id: record.parent_id,
            traits,
            inherited,
            usage_count: record.usage_count,
            last_used_at: record.last_used_at,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    fn publish(&self, kind: &str, persona: &Persona) {
        let payload = serde_json::to_value(persona).unwrap_or_default();
        self.events.publish(EVENT_SOURCE, kind, payload);
    }
}

/// The system prompt for `persona`, naming `channel` when it writes for one.
pub fn render_prompt(persona: &Persona, channel: Option<&super::Channel>) -> String {
    let t = &persona.traits;
    let mut out = format!("You are {}", persona.name);
    if let Some(d) = &t.description {
        let _ = write!(out, ": {}", d.trim_end_matches('.'));
    }
    out.push_str(".\n");
    let mut line = |label: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            let _ = writeln!(out, "{label}: {value}");
        }
    };
    line("Writing style", t.writing_style.clone());
    line("Tone", t.tone.clone());
    line(
        "Personality",
        t.personality_traits.as_ref().map(|v| v.join(", ")),
    );
    line(
        "Expertise",
        t.expertise_areas.as_ref().map(|v| v.join(", ")),
    );
    line(
        "Vocabulary",
        t.vocabulary_level
            .map(|v| format!("{v}: use {}", v.guidance())),
    );
    line("Audience", t.target_audience.clone());
    line("You write", t.content_types.as_ref().map(|v| v.join(", ")));
    line(
        "Channel",
        channel.map(|c| format!("{} on {}", c.name, c.platform)),
    );
    out.push_str("Stay in this voice in everything you write.");
    out
}

fn name_taken(err: Error, name: &str) -> Error {
    match err {
        Error::Conflict(m) if m.starts_with("already exists") => {
            Error::Conflict(format!("a persona named {name:?} already exists"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persona(traits: PersonaTraits) -> Persona {
        Persona {
            id: Uuid::nil(),
            name: "Ada".into(),
            is_active: true,
            version: 1,
            parent_id: None,
            traits,
            inherited: vec![],
            usage_count: 0,
            last_used_at: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn overlay_takes_only_what_the_variant_sets() {
        let parent = PersonaTraits {
            tone: Some("warm".into()),
            writing_style: Some("short".into()),
            ..PersonaTraits::default()
        };
        let child = PersonaTraits {
            tone: Some("dry".into()),
            ..PersonaTraits::default()
        };
        let merged = parent.overlaid(&child);
        assert_eq!(merged.tone.as_deref(), Some("dry"));
        assert_eq!(merged.writing_style.as_deref(), Some("short"));
    }

    #[test]
    fn the_prompt_names_every_set_trait_and_skips_the_rest() {
        let p = persona(PersonaTraits {
            description: Some("a science explainer.".into()),
            tone: Some("warm".into()),
            expertise_areas: Some(vec!["physics".into(), "maths".into()]),
            vocabulary_level: Some(VocabularyLevel::Basic),
            ..PersonaTraits::default()
        });
        let prompt = render_prompt(&p, None);
        assert!(
            prompt.starts_with("You are Ada: a science explainer.\n"),
            "{prompt}"
        );
        assert!(prompt.contains("Tone: warm\n"), "{prompt}");
        assert!(prompt.contains("Expertise: physics, maths\n"), "{prompt}");
        assert!(
            prompt.contains("Vocabulary: basic: use plain everyday words"),
            "{prompt}"
        );
        assert!(!prompt.contains("Writing style"), "{prompt}");
        assert!(!prompt.contains("Channel"), "{prompt}");
    }

    #[test]
    fn traits_are_validated() {
        let bad = PersonaTraits {
            personality_traits: Some(vec!["kind".into(), "kind".into()]),
            ..PersonaTraits::default()
        };
        assert!(bad.validated().is_err());
        let blank = PersonaTraits {
            tone: Some("  ".into()),
            ..PersonaTraits::default()
        };
        assert_eq!(blank.validated().unwrap().tone, None);
    }
}
