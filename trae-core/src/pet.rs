//! The example pets domain: the record, its rules, its repository port and its service.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::permission::{Authorizer, Gate};
use crate::monitoring::telemetry::{PET_OPERATION_SECONDS, PET_OPERATIONS};
use crate::{Clock, Error, EventBus, Page, PageRequest, Principal, Result};

/// The longest pet name, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// The oldest age a pet may have.
pub const AGE_MAX: i32 = 100;
/// The most tags a pet may carry.
pub const TAGS_MAX: usize = 10;
/// The longest tag, in characters.
pub const TAG_MAX_CHARS: usize = 32;

/// What kind of animal a pet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Species {
    /// A dog.
    Dog,
    /// A cat.
    Cat,
    /// A bird.
    Bird,
    /// A fish.
    Fish,
    /// Anything else.
    Other,
}

impl Species {
    /// Every species, in declaration order.
    pub const ALL: [Species; 5] = [Self::Dog, Self::Cat, Self::Bird, Self::Fish, Self::Other];

    /// The lowercase name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dog => "dog",
            Self::Cat => "cat",
            Self::Bird => "bird",
            Self::Fish => "fish",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Species {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Species {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|species| species.as_str() == s)
            .ok_or_else(|| {
                Error::validation(
                    "species",
                    format!("must be one of dog, cat, bird, fish, other; got {s:?}"),
                )
            })
    }
}

/// A stored pet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pet {
    /// Identifier (UUIDv7, so ids sort by creation time).
    pub id: Uuid,
    /// Name, 1–100 characters, no surrounding whitespace.
    pub name: String,
    /// Species.
    pub species: Species,
    /// Age in years, 0–100.
    pub age: i32,
    /// Up to 10 distinct tags of 1–32 characters each.
    pub tags: Vec<String>,
    /// When the pet was created.
    pub created_at: DateTime<Utc>,
    /// When the pet was last changed.
    pub updated_at: DateTime<Utc>,
}

/// The fields of a pet to create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewPet {
    /// Name.
    pub name: String,
    /// Species.
    pub species: Species,
    /// Age in years.
    pub age: i32,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A partial update: fields left `None` keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PetPatch {
    /// New name.
    pub name: Option<String>,
    /// New species.
    pub species: Option<Species>,
    /// New age.
    pub age: Option<i32>,
    /// New tags, replacing the old ones.
    pub tags: Option<Vec<String>>,
}

impl PetPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.species.is_none() && self.age.is_none() && self.tags.is_none()
    }
}

/// Which pets a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PetFilter {
    /// Only pets of this species.
    pub species: Option<Species>,
    /// Only pets carrying this tag.
    pub tag: Option<String>,
}

/// Storage of pets. Implementations keep the list order stable: oldest first, ties by id.
#[async_trait]
pub trait PetRepository: Send + Sync + 'static {
    /// Stores a new pet.
    async fn insert(&self, pet: &Pet) -> Result<()>;
    /// Reads one pet.
    async fn get(&self, id: Uuid) -> Result<Option<Pet>>;
    /// Lists pets matching `filter`, one page at a time.
    async fn list(&self, filter: &PetFilter, page: PageRequest) -> Result<Page<Pet>>;
    /// Replaces a stored pet's fields; false when it no longer exists.
    async fn update(&self, pet: &Pet) -> Result<bool>;
    /// Deletes a pet; false when it did not exist.
    async fn delete(&self, id: Uuid) -> Result<bool>;
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<String> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(Error::validation(field, "must not be empty"));
    }
    if chars > max_chars {
        return Err(Error::validation(
            field,
            format!("must be at most {max_chars} characters, got {chars}"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Validates a name and returns it without surrounding whitespace.
pub fn validate_name(name: &str) -> Result<String> {
    check_text("name", name, NAME_MAX_CHARS)
}

/// Validates an age.
pub fn validate_age(age: i32) -> Result<i32> {
    if (0..=AGE_MAX).contains(&age) {
        Ok(age)
    } else {
        Err(Error::validation(
            "age",
            format!("must be between 0 and {AGE_MAX}, got {age}"),
        ))
    }
}

/// Validates a tag list and returns the tags trimmed.
pub fn validate_tags(tags: &[String]) -> Result<Vec<String>> {
    if tags.len() > TAGS_MAX {
        return Err(Error::validation(
            "tags",
            format!("at most {TAGS_MAX} tags, got {}", tags.len()),
        ));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        let tag = check_text(&format!("tags[{i}]"), tag, TAG_MAX_CHARS)?;
        if clean.contains(&tag) {
            return Err(Error::validation(
                format!("tags[{i}]"),
                format!("duplicate tag {tag:?}"),
            ));
        }
        clean.push(tag);
    }
    Ok(clean)
}

/// Reading pets.
pub const PETS_READ: &str = "pets:read";
/// Creating, changing and deleting pets.
pub const PETS_WRITE: &str = "pets:write";

/// The pets service: decides who may act (through the [`Authorizer`] port), validates input,
/// stamps ids and times, stores, and publishes events.
#[derive(Clone)]
pub struct Pets {
    repo: Arc<dyn PetRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
    gate: Gate,
}

impl fmt::Debug for Pets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pets").finish_non_exhaustive()
    }
}

/// The event source name pets publish under.
pub const EVENT_SOURCE: &str = "pets";

impl Pets {
    /// A service over `repo`, stamping times from `clock` and publishing on `events`.
    pub fn new(
        repo: Arc<dyn PetRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            repo,
            clock,
            events,
            gate: Gate::default(),
        }
    }

    /// The service deciding permissions with `authorizer` (by default only the system may
    /// act).
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// Creates a pet; needs `pets:write`.
    pub async fn create(&self, principal: &Principal, input: NewPet) -> Result<Pet> {
        observe("create", async {
            self.gate.check(principal, PETS_WRITE).await?;
            let now = self.clock.now_micros();
            let pet = Pet {
                id: Uuid::now_v7(),
                name: validate_name(&input.name)?,
                species: input.species,
                age: validate_age(input.age)?,
                tags: validate_tags(&input.tags)?,
                created_at: now,
                updated_at: now,
            };
            self.repo.insert(&pet).await?;
            self.publish("pet.created", &pet);
            Ok(pet)
        })
        .await
    }

    /// Reads a pet; needs `pets:read`.
    pub async fn get(&self, principal: &Principal, id: Uuid) -> Result<Pet> {
        observe("get", async {
            self.gate.check(principal, PETS_READ).await?;
            self.repo
                .get(id)
                .await?
                .ok_or_else(|| Error::not_found("pet", id))
        })
        .await
    }

    /// Lists pets matching `filter`; needs `pets:read`.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: PetFilter,
        page: PageRequest,
    ) -> Result<Page<Pet>> {
        observe("list", async {
            self.gate.check(principal, PETS_READ).await?;
            let filter = PetFilter {
                species: filter.species,
                tag: filter
                    .tag
                    .map(|t| check_text("tag", &t, TAG_MAX_CHARS))
                    .transpose()?,
            };
            self.repo.list(&filter, page).await
        })
        .await
    }

    /// Changes the fields named in `patch`; an empty patch returns the pet unchanged. Needs
    /// `pets:write`.
    pub async fn update(&self, principal: &Principal, id: Uuid, patch: PetPatch) -> Result<Pet> {
        observe("update", async {
            self.gate.check(principal, PETS_WRITE).await?;
            // Validate before reading so bad input never costs a query.
            let name = patch.name.as_deref().map(validate_name).transpose()?;
            let age = patch.age.map(validate_age).transpose()?;
            let tags = patch.tags.as_deref().map(validate_tags).transpose()?;
            let mut pet = self
                .repo
                .get(id)
                .await?
                .ok_or_else(|| Error::not_found("pet", id))?;
            if patch.is_empty() {
                return Ok(pet);
            }
            if let Some(name) = name {
                pet.name = name;
            }
            if let Some(species) = patch.species {
                pet.species = species;
            }
            if let Some(age) = age {
                pet.age = age;
            }
            if let Some(tags) = tags {
                pet.tags = tags;
            }
            pet.updated_at = self.clock.now_micros().max(pet.created_at);
            if !self.repo.update(&pet).await? {
                return Err(Error::not_found("pet", id));
            }
            self.publish("pet.updated", &pet);
            Ok(pet)
        })
        .await
    }

    /// Deletes a pet; needs `pets:write`.
    pub async fn delete(&self, principal: &Principal, id: Uuid) -> Result<()> {
        observe("delete", async {
            self.gate.check(principal, PETS_WRITE).await?;
            if !self.repo.delete(id).await? {
                return Err(Error::not_found("pet", id));
            }
            self.events
                .publish(EVENT_SOURCE, "pet.deleted", serde_json::json!({ "id": id }));
            Ok(())
        })
        .await
    }

    fn publish(&self, kind: &str, pet: &Pet) {
        let payload = serde_json::to_value(pet).unwrap_or_default();
        self.events.publish(EVENT_SOURCE, kind, payload);
    }
}

async fn observe<T>(op: &'static str, work: impl Future<Output = Result<T>>) -> Result<T> {
    let started = Instant::now();
    let result = work.await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    metrics::counter!(PET_OPERATIONS, "op" => op, "outcome" => outcome).increment(1);
    metrics::histogram!(PET_OPERATION_SECONDS, "op" => op).record(started.elapsed().as_secs_f64());
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Permission;

    /// Pets in memory: the permission rule needs no database.
    #[derive(Default)]
    struct MemoryPets(std::sync::Mutex<Vec<Pet>>);

    #[async_trait]
    impl PetRepository for MemoryPets {
        async fn insert(&self, pet: &Pet) -> Result<()> {
            self.0.lock().unwrap().push(pet.clone());
            Ok(())
        }
        async fn get(&self, id: Uuid) -> Result<Option<Pet>> {
            Ok(self.0.lock().unwrap().iter().find(|p| p.id == id).cloned())
        }
        async fn list(&self, _: &PetFilter, page: PageRequest) -> Result<Page<Pet>> {
            let items = self.0.lock().unwrap().clone();
            Ok(Page {
                total: items.len() as u64,
                items,
                limit: page.limit(),
                offset: page.offset(),
            })
        }
        async fn update(&self, pet: &Pet) -> Result<bool> {
            let mut pets = self.0.lock().unwrap();
            let found = pets.iter_mut().find(|p| p.id == pet.id);
            Ok(found.map(|p| *p = pet.clone()).is_some())
        }
        async fn delete(&self, id: Uuid) -> Result<bool> {
            let mut pets = self.0.lock().unwrap();
            let before = pets.len();
            pets.retain(|p| p.id != id);
            Ok(pets.len() < before)
        }
    }

    /// Grants `pets:read` to users and everything to the system.
    struct ReadersOnly;

    #[async_trait]
    impl Authorizer for ReadersOnly {
        async fn authorize(&self, principal: &Principal, needed: &Permission) -> Result<()> {
            match principal {
                Principal::System => Ok(()),
                _ if needed.as_str() == PETS_READ => Ok(()),
                _ => Err(Error::Forbidden(format!(
                    "this needs the permission {needed}"
                ))),
            }
        }
    }

    fn reader() -> Principal {
        Principal::User {
            user_id: Uuid::now_v7(),
            username: Some("watcher".into()),
            session_id: None,
            roles: vec!["viewer".into()],
        }
    }

    #[tokio::test]
    async fn the_service_refuses_writes_without_pets_write_and_stores_nothing() {
        let repo = Arc::new(MemoryPets::default());
        let pets = Pets::new(
            repo.clone(),
            Arc::new(crate::SystemClock),
            Arc::new(crate::BroadcastBus::new(Arc::new(crate::SystemClock), 16)),
        )
        .with_authorizer(Arc::new(ReadersOnly));
        let rex = NewPet {
            name: "Rex".into(),
            species: Species::Dog,
            age: 3,
            tags: vec![],
        };
        let reader = reader();
        let refused = pets.create(&reader, rex.clone()).await.unwrap_err();
        assert!(matches!(refused, Error::Forbidden(ref m) if m.contains("pets:write")));
        assert!(repo.0.lock().unwrap().is_empty(), "nothing was stored");
        let created = pets.create(&Principal::System, rex).await.unwrap();
        assert_eq!(pets.get(&reader, created.id).await.unwrap(), created);
        let patch = PetPatch {
            age: Some(4),
            ..PetPatch::default()
        };
        assert!(matches!(
            pets.update(&reader, created.id, patch).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            pets.delete(&reader, created.id).await,
            Err(Error::Forbidden(_))
        ));
        assert_eq!(repo.0.lock().unwrap()[0].age, 3);
    }

    #[tokio::test]
    async fn without_an_authorizer_only_the_system_may_act() {
        let pets = Pets::new(
            Arc::new(MemoryPets::default()),
            Arc::new(crate::SystemClock),
            Arc::new(crate::BroadcastBus::new(Arc::new(crate::SystemClock), 16)),
        );
        let page = PageRequest::default();
        assert!(matches!(
            pets.list(&reader(), PetFilter::default(), page).await,
            Err(Error::Forbidden(_))
        ));
        assert!(
            pets.list(&Principal::System, PetFilter::default(), page)
                .await
                .is_ok()
        );
    }

    #[test]
    fn species_parse_from_their_wire_names_only() {
        for species in Species::ALL {
            assert_eq!(species.as_str().parse::<Species>().unwrap(), species);
        }
        let err = "Dog".parse::<Species>().unwrap_err();
        assert!(
            err.to_string().contains("dog, cat, bird, fish, other"),
            "{err}"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  Rex ").unwrap(), "Rex");
        assert!(validate_name("   ").is_err());
        assert!(validate_name(&"x".repeat(100)).is_ok());
        assert!(validate_name(&"x".repeat(101)).is_err());
        // Characters, not bytes: 100 multi-byte characters are fine.
        assert!(validate_name(&"é".repeat(100)).is_ok());
        assert!(validate_name("Rex\u{0}").is_err());
    }

    #[test]
    fn ages_are_between_zero_and_one_hundred() {
        assert!(validate_age(0).is_ok());
        assert!(validate_age(100).is_ok());
        assert!(validate_age(-1).is_err());
        assert!(validate_age(101).is_err());
    }

    #[test]
    fn tags_are_bounded_in_count_length_and_distinct() {
        let ten: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        assert_eq!(validate_tags(&ten).unwrap().len(), 10);
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(validate_tags(&eleven).is_err());
        let err = validate_tags(&["ok".into(), "x".repeat(33)]).unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "tags[1]"));
        assert!(validate_tags(&["".into()]).is_err());
        let err = validate_tags(&["a".into(), " a".into()]).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }
}
