//! Converting Python arguments into the inputs of the pets service.
//!
//! Wrong Python types raise `TypeError` at the call, as for any Python function. Values of the
//! right type are only converted here and validated by trae-core; a value that cannot even be
//! converted (a malformed id, an unknown species, an integer too large for the field) becomes
//! a `trae_core::Error::Validation`, so it surfaces as `trae.ValidationError` like every other
//! broken rule. The converters return that error rather than raising it, so the asyncio API can
//! raise it when the call is awaited.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};
use trae_core::{Error, NewPet, PageRequest, PetFilter, PetPatch, Species};
use uuid::Uuid;

/// A pet id from a `uuid.UUID` or its string form.
pub(crate) fn pet_id(value: &Bound<'_, PyAny>) -> PyResult<trae_core::Result<Uuid>> {
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_cow()?;
        return Ok(Uuid::parse_str(text.trim())
            .map_err(|_| Error::validation("id", format!("must be a UUID, got {text:?}"))));
    }
    match value.extract::<Uuid>() {
        Ok(id) => Ok(Ok(id)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "id must be a uuid.UUID or a str, not {}",
            value.get_type().name()?
        ))),
    }
}

fn species(value: &str) -> trae_core::Result<Species> {
    value.parse()
}

/// A Python int as the integer type the service takes, or a validation error on `field`.
fn int<T: TryFrom<i64>>(field: &str, value: &Bound<'_, PyInt>) -> trae_core::Result<T> {
    value
        .extract::<i64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| Error::validation(field, format!("{value} is out of range")))
}

/// The input of `pets.create`.
pub(crate) fn new_pet(
    name: String,
    species_name: &str,
    age: &Bound<'_, PyInt>,
    tags: Option<Vec<String>>,
) -> trae_core::Result<NewPet> {
    Ok(NewPet {
        name,
        species: species(species_name)?,
        age: int("age", age)?,
        tags: tags.unwrap_or_default(),
    })
}

/// The input of `pets.update`: `None` leaves a field unchanged.
pub(crate) fn patch(
    name: Option<String>,
    species_name: Option<&str>,
    age: Option<&Bound<'_, PyInt>>,
    tags: Option<Vec<String>>,
) -> trae_core::Result<PetPatch> {
    Ok(PetPatch {
        name,
        species: species_name.map(species).transpose()?,
        age: age.map(|age| int("age", age)).transpose()?,
        tags,
    })
}

/// The filter and page of `pets.list`; `None` means the service's default.
pub(crate) fn list(
    species_name: Option<&str>,
    tag: Option<String>,
    limit: Option<&Bound<'_, PyInt>>,
    offset: Option<&Bound<'_, PyInt>>,
) -> trae_core::Result<(PetFilter, PageRequest)> {
    let filter = PetFilter {
        species: species_name.map(species).transpose()?,
        tag,
    };
    let limit = limit.map(|limit| int("limit", limit)).transpose()?;
    let offset = offset.map(|offset| int("offset", offset)).transpose()?;
    Ok((filter, PageRequest::new(limit, offset)?))
}
