//! `/api/pets`: the example API over the pets service.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use trae_core::{NewPet, PageRequest, PetFilter, PetPatch, Pets, Species};
use uuid::Uuid;

use super::ApiTags;
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The pets router.
#[derive(Debug, Clone)]
pub struct PetsApi {
    pets: Pets,
}

impl PetsApi {
    /// A router over the pets service, which decides who may do what.
    pub fn new(pets: Pets) -> Self {
        Self { pets }
    }
}

/// What kind of animal a pet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "Species", rename_all = "lowercase")]
pub enum SpeciesBody {
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

impl From<SpeciesBody> for Species {
    fn from(s: SpeciesBody) -> Self {
        match s {
            SpeciesBody::Dog => Self::Dog,
            SpeciesBody::Cat => Self::Cat,
            SpeciesBody::Bird => Self::Bird,
            SpeciesBody::Fish => Self::Fish,
            SpeciesBody::Other => Self::Other,
        }
    }
}

impl From<Species> for SpeciesBody {
    fn from(s: Species) -> Self {
        match s {
            Species::Dog => Self::Dog,
            Species::Cat => Self::Cat,
            Species::Bird => Self::Bird,
            Species::Fish => Self::Fish,
            Species::Other => Self::Other,
        }
    }
}

/// A pet.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Pet")]
pub struct PetBody {
    /// Identifier.
    pub id: Uuid,
    /// Name, 1–100 characters.
    pub name: String,
    /// Species.
    pub species: SpeciesBody,
    /// Age in years, 0–100.
    pub age: i32,
    /// Up to 10 distinct tags, 1–32 characters each.
    pub tags: Vec<String>,
    /// When the pet was created.
    pub created_at: DateTime<Utc>,
    /// When the pet was last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<trae_core::Pet> for PetBody {
    fn from(p: trae_core::Pet) -> Self {
        Self {
            id: p.id,
            name: p.name,
            species: p.species.into(),
            age: p.age,
            tags: p.tags,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

// The validators below state in the spec the rules `trae_core::pet` enforces (which stay the
// authority), so clients and the fuzzer generated from the spec know them.

/// A pet to create.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewPet", deny_unknown_fields)]
pub struct NewPetBody {
    /// Name, 1–100 characters (surrounding whitespace is removed).
    #[oai(validator(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// Species.
    pub species: SpeciesBody,
    /// Age in years, 0–100.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub age: i32,
    /// Up to 10 distinct tags, 1–32 characters each.
    #[oai(
        default,
        validator(
            max_items = 10,
            unique_items,
            min_length = 1,
            max_length = 32,
            pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
        )
    )]
    pub tags: Vec<String>,
}

/// Fields to change; absent fields keep their value.
#[derive(Debug, Clone, Object)]
#[oai(rename = "PetPatch", deny_unknown_fields)]
pub struct PetPatchBody {
    /// New name.
    #[oai(validator(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: Option<String>,
    /// New species.
    pub species: Option<SpeciesBody>,
    /// New age.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub age: Option<i32>,
    /// New tags, replacing the old ones.
    #[oai(validator(
        max_items = 10,
        unique_items,
        min_length = 1,
        max_length = 32,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub tags: Option<Vec<String>>,
}

/// A created pet.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// The pet was created.
    #[oai(status = 201)]
    Created(Json<PetBody>, #[oai(header = "Location")] String),
}

/// A deleted pet.
#[derive(Debug, ApiResponse)]
pub enum Deleted {
    /// The pet was deleted.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(tag = "ApiTags::Pets")]
impl PetsApi {
    /// List pets
    ///
    /// Oldest first. Filter by `species` and `tag`; page with `limit` (1–500, default 50)
    /// and `offset`.
    #[oai(path = "/api/pets", method = "get", operation_id = "list_pets")]
    async fn list(
        &self,
        auth: Auth,
        species: Query<Option<SpeciesBody>>,
        tag: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<PetBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = PetFilter {
            species: species.0.map(Into::into),
            tag: tag.0,
        };
        let page = self.pets.list(auth.principal(), filter, page).await?;
        Ok(Json(page.into()))
    }

    /// Create a pet
    #[oai(path = "/api/pets", method = "post", operation_id = "create_pet")]
    async fn create(&self, auth: Auth, body: JsonBody<NewPetBody>) -> Result<Created, ApiError> {
        let body = body.0;
        let pet = self
            .pets
            .create(
                auth.principal(),
                NewPet {
                    name: body.name,
                    species: body.species.into(),
                    age: body.age,
                    tags: body.tags,
                },
            )
            .await?;
        let location = format!("/api/pets/{}", pet.id);
        Ok(Created::Created(Json(pet.into()), location))
    }

    /// Get a pet
    #[oai(path = "/api/pets/:id", method = "get", operation_id = "get_pet")]
    async fn get(&self, auth: Auth, id: Path<Uuid>) -> Result<Json<PetBody>, ApiError> {
        Ok(Json(self.pets.get(auth.principal(), id.0).await?.into()))
    }

    /// Change some fields of a pet
    #[oai(path = "/api/pets/:id", method = "patch", operation_id = "update_pet")]
    async fn update(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        body: JsonBody<PetPatchBody>,
    ) -> Result<Json<PetBody>, ApiError> {
        let body = body.0;
        let patch = PetPatch {
            name: body.name,
            species: body.species.map(Into::into),
            age: body.age,
            tags: body.tags,
        };
        Ok(Json(
            self.pets
                .update(auth.principal(), id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Delete a pet
    #[oai(path = "/api/pets/:id", method = "delete", operation_id = "delete_pet")]
    async fn delete(&self, auth: Auth, id: Path<Uuid>) -> Result<Deleted, ApiError> {
        self.pets.delete(auth.principal(), id.0).await?;
        Ok(Deleted::Deleted)
    }
}
