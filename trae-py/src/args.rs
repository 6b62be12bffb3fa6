//! Converting Python arguments into the inputs of the services.
//!
//! Wrong Python types raise `TypeError` at the call, as for any Python function. Values of the
//! right type are only converted here and validated by trae-core; a value that cannot even be
//! converted (a malformed id, an unknown species, an integer too large for the field) becomes
//! a `trae_core::Error::Validation`, so it surfaces as `trae.ValidationError` like every other
//! broken rule. The converters return that error rather than raising it, so the asyncio API can
//! raise it when the call is awaited.

use chrono::{DateTime, Utc};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDateTime, PyDict, PyInt, PyString, PyTzInfo};
use trae_core::{Error, NewPet, PageRequest, Permission, PetFilter, PetPatch, Species};
use uuid::Uuid;

/// An id from a `uuid.UUID` or its string form.
pub(crate) fn id(value: &Bound<'_, PyAny>) -> PyResult<trae_core::Result<Uuid>> {
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
pub(crate) fn int<T: TryFrom<i64>>(field: &str, value: &Bound<'_, PyInt>) -> trae_core::Result<T> {
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

/// A page request from `limit` and `offset`; `None` means the service's default.
pub(crate) fn page(
    limit: Option<&Bound<'_, PyInt>>,
    offset: Option<&Bound<'_, PyInt>>,
) -> trae_core::Result<PageRequest> {
    let limit = limit.map(|limit| int("limit", limit)).transpose()?;
    let offset = offset.map(|offset| int("offset", offset)).transpose()?;
    PageRequest::new(limit, offset)
}

/// A permission name such as `pets:read`.
pub(crate) fn permission(name: &str) -> trae_core::Result<Permission> {
    name.trim().parse()
}

/// A timezone-aware `datetime` (any zone) as UTC; a naive one is a validation error on
/// `field`, since its meaning would be a guess.
pub(crate) fn utc(
    field: &str,
    value: Option<&Bound<'_, PyAny>>,
) -> PyResult<trae_core::Result<Option<DateTime<Utc>>>> {
    let Some(value) = value else {
        return Ok(Ok(None));
    };
    let Ok(stamp) = value.cast::<PyDateTime>() else {
        return Err(PyTypeError::new_err(format!(
            "{field} must be a datetime.datetime, not {}",
            value.get_type().name()?
        )));
    };
    if stamp.getattr("tzinfo")?.is_none() || stamp.call_method0("utcoffset")?.is_none() {
        return Ok(Err(Error::validation(
            field,
            "must be timezone-aware (e.g. datetime.now(timezone.utc))",
        )));
    }
    let in_utc = stamp.call_method1("astimezone", (PyTzInfo::utc(value.py())?,))?;
    Ok(Ok(Some(in_utc.extract()?)))
}

/// An audit actor filter: a user's or key's id (`uuid.UUID` or string) or a name.
pub(crate) fn actor(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Some(text.to_cow()?.trim().to_owned()));
    }
    match value.extract::<Uuid>() {
        Ok(id) => Ok(Some(id.to_string())),
        Err(_) => Err(PyTypeError::new_err(format!(
            "actor must be a str or a uuid.UUID, not {}",
            value.get_type().name()?
        ))),
    }
}

/// A spec in the JSON shape of the HTTP API from a dict (`spec`) and keyword arguments
/// (`fields`, which win): a `TypeError` when `spec` is not a dict, else the spec or a
/// validation error.
///
/// `None` means the default, as a JSON `null` does over HTTP: `None` values are dropped at the
/// top level and inside the `nested` keys. Unknown keys, missing required ones and values of
/// the wrong type are validation errors naming their field; the spec's own rules are checked
/// by the service.
pub(crate) fn json_spec<T: serde::de::DeserializeOwned>(
    spec: Option<&Bound<'_, PyAny>>,
    fields: Option<&Bound<'_, PyDict>>,
    nested: &[&str],
) -> PyResult<trae_core::Result<T>> {
    let spec = match spec {
        None => None,
        Some(value) if value.is_none() => None,
        Some(value) => Some(value.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "spec must be a dict, not {}",
                crate::convert::type_name(value)
            ))
        })?),
    };
    let mut map = serde_json::Map::new();
    for dict in spec.into_iter().chain(fields) {
        match crate::convert::py_to_json(dict.as_any()) {
            Ok(serde_json::Value::Object(given)) => map.extend(given),
            Ok(_) => return Ok(Err(Error::validation("spec", "must be a dict"))),
            Err(why) => return Ok(Err(Error::validation("spec", why))),
        }
    }
    map.retain(|_, value| !value.is_null());
    for key in nested {
        if let Some(serde_json::Value::Object(inner)) = map.get_mut(*key) {
            inner.retain(|_, value| !value.is_null());
        }
    }
    Ok(
        serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            // The path leads to the value that is wrong; a missing or unknown field is named
            // by the message, under that path.
            let named = serde_field(&message);
            let field = match (path.as_str(), named.as_str()) {
                (".", _) => named,
                (_, "spec") => path,
                _ if path == named || path.ends_with(&format!(".{named}")) => path,
                _ => format!("{path}.{named}"),
            };
            Error::validation(field, message)
        }),
    )
}

/// The field a serde message about a spec names (`unknown field `x``, `missing field `x``),
/// or `spec`.
fn serde_field(message: &str) -> String {
    ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| {
            let rest = message.strip_prefix(prefix)?;
            rest.split_once('`').map(|(field, _)| field.to_owned())
        })
        .unwrap_or_else(|| "spec".to_owned())
}

/// What `trae.Store(...)` was given in code, winning over `TRAE_*` and `trae.toml`.
pub(crate) fn config_overrides(
    url: Option<String>,
    data_dir: Option<std::path::PathBuf>,
    jwt_secret: Option<String>,
    master_key: Option<String>,
) -> trae_core::ConfigOverrides {
    trae_core::ConfigOverrides {
        database_url: url,
        data_dir,
        jwt_secret: jwt_secret.map(trae_core::SecretString::new),
        master_key: master_key.map(trae_core::SecretString::new),
    }
}

/// A wait in seconds as a `Duration` (`None`: no limit); negative or not finite is a
/// validation error on `timeout`.
pub(crate) fn timeout(seconds: Option<f64>) -> trae_core::Result<Option<std::time::Duration>> {
    seconds
        .map(|s| {
            std::time::Duration::try_from_secs_f64(s).map_err(|_| {
                trae_core::Error::validation("timeout", "must be a number of seconds, 0 or more")
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::serde_field;

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            serde_field("unknown field `secret_value`, expected one of `name`"),
            "secret_value"
        );
        assert_eq!(serde_field("missing field `base_url`"), "base_url");
        assert_eq!(
            serde_field("invalid type: string \"x\", expected i32"),
            "spec"
        );
    }
}
