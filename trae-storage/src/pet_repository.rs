//! [`PetRepository`] on SQLite and PostgreSQL through sea-orm.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder,
};
use trae_core::{Error, Page, PageRequest, Pet, PetFilter, PetRepository, Result, Species};
use uuid::Uuid;

use crate::entity::pet::{self, Entity as PetEntity};
use crate::error::db_error;
use crate::fetch::{fetch_page, fetch_unique};

/// Pets stored in the `pets` table.
#[derive(Debug, Clone)]
pub struct SqlPetRepository {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
}

impl SqlPetRepository {
    /// A repository writing through `writer` and reading through `reader` (which may be the
    /// same connection pool).
    pub fn new(writer: DatabaseConnection, reader: DatabaseConnection) -> Self {
        Self { writer, reader }
    }

    fn condition(&self, filter: &PetFilter) -> Condition {
        let mut condition = Condition::all();
        if let Some(species) = filter.species {
            condition = condition.add(pet::Column::Species.eq(species.as_str()));
        }
        if let Some(tag) = &filter.tag {
            let expr = match self.reader.get_database_backend() {
                // Containment uses the GIN index on tags.
                DatabaseBackend::Postgres => Expr::cust_with_values(
                    r#""pets"."tags" @> $1::jsonb"#,
                    [serde_json::json!([tag]).to_string()],
                ),
                _ => Expr::cust_with_values(
                    r#"EXISTS (SELECT 1 FROM json_each("pets"."tags") WHERE json_each.value = ?)"#,
                    [tag.clone()],
                ),
            };
            condition = condition.add(expr);
        }
        condition
    }
}

fn to_active(pet: &Pet) -> pet::ActiveModel {
    pet::ActiveModel {
        id: ActiveValue::Set(pet.id),
        name: ActiveValue::Set(pet.name.clone()),
        species: ActiveValue::Set(pet.species.as_str().to_owned()),
        age: ActiveValue::Set(pet.age),
        tags: ActiveValue::Set(serde_json::json!(pet.tags)),
        created_at: ActiveValue::Set(pet.created_at),
        updated_at: ActiveValue::Set(pet.updated_at),
    }
}

fn from_model(model: pet::Model) -> Result<Pet> {
    let tags = serde_json::from_value(model.tags)
        .map_err(|e| Error::Storage(format!("pet {} has malformed tags: {e}", model.id)))?;
    Ok(Pet {
        id: model.id,
        species: model.species.parse::<Species>()?,
        name: model.name,
        age: model.age,
        tags,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

#[async_trait]
impl PetRepository for SqlPetRepository {
    async fn insert(&self, pet: &Pet) -> Result<()> {
        PetEntity::insert(to_active(pet))
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Pet>> {
        fetch_unique(PetEntity::find_by_id(id), &self.reader)
            .await?
            .map(from_model)
            .transpose()
    }

    async fn list(&self, filter: &PetFilter, page: PageRequest) -> Result<Page<Pet>> {
        let select = PetEntity::find()
            .filter(self.condition(filter))
            .order_by(pet::Column::CreatedAt, Order::Asc)
            .order_by(pet::Column::Id, Order::Asc);
        let (rows, total) = fetch_page(select, page, &self.reader).await?;
        Ok(Page {
            items: rows.into_iter().map(from_model).collect::<Result<_>>()?,
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    async fn update(&self, pet: &Pet) -> Result<bool> {
        let mut active = to_active(pet);
        active.created_at = ActiveValue::NotSet;
        let result = PetEntity::update_many()
            .set(active)
            .filter(pet::Column::Id.eq(pet.id))
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected == 1)
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        let result = PetEntity::delete_by_id(id)
            .exec(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected == 1)
    }
}
