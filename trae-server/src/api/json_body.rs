//! Request bodies, parsed strictly: [`JsonBody`] is the `Json` extractor of every route.
//!
//! poem-openapi's own `Json<T>` lets a JSON number or boolean stand in for a string (`false`
//! becomes `"false"`) and keeps the last of duplicate keys. Both hide client bugs and let two
//! parsers of one document disagree, so here a duplicate key anywhere in the document, a
//! number or boolean where the schema of `T` says string, or a field an object does not have
//! (at any depth; maps excepted) is 422 `validation_failed` before `T` is parsed at all.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::error::{ContentTypeError, ParseRequestPayloadError};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON request body of type `T`, parsed strictly (see the module docs).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<'a, T: ParseFromJSON + 'static> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: Json::<T>::CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: T::IS_REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if Json::<T>::check_content_type(content_type) => {}
            Some(content_type) => {
                return Err(ContentTypeError::NotSupported {
                    content_type: content_type.to_owned(),
                }
                .into());
            }
            None => return Err(ContentTypeError::ExpectContentType.into()),
        }
        let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        Ok(Self(parse(&bytes)?))
    }
}

/// Parses `bytes` as a `T` strictly: no duplicate keys, no number or boolean for a string.
pub fn parse<T: ParseFromJSON + 'static>(bytes: &[u8]) -> poem::Result<T> {
    let invalid = |reason: String| poem::Error::from(ParseRequestPayloadError { reason });
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let Unique(value) = Unique::deserialize(&mut de).map_err(|e| invalid(e.to_string()))?;
        de.end().map_err(|e| invalid(e.to_string()))?;
        value
    };
    let schema = BodySchema::of::<T>();
    schema
        .check(&schema.root, &value, "body")
        .map_err(invalid)?;
    T::parse_from_json(Some(value)).map_err(|e| invalid(e.into_message()))
}

/// A JSON value read with every object's keys distinct.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Unique::deserialize(d).map(|u| u.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let Unique(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The schema of a body type and every schema it refers to, registered once per type.
struct BodySchema {
    root: MetaSchemaRef,
    schemas: BTreeMap<String, MetaSchema>,
}

/// Registered schemas by body type: registering walks every nested type, so it is done once.
type Cache = RwLock<HashMap<TypeId, Arc<BodySchema>>>;

impl BodySchema {
    fn of<T: ParseFromJSON + 'static>() -> Arc<Self> {
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Cache::default);
        let id = TypeId::of::<T>();
        if let Some(schema) = cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return Arc::clone(schema);
        }
        let mut registry = Registry::new();
        T::register(&mut registry);
        let schema = Arc::new(Self {
            root: T::schema_ref(),
            schemas: registry.schemas,
        });
        cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&schema));
        schema
    }

    /// `Err` naming the place (`body.tags[2]`) where `value` has a number or boolean that
    /// `schema` wants as a string, or lacks a required property.
    fn check(&self, schema: &MetaSchemaRef, value: &Value, at: &str) -> Result<(), String> {
        let schema = match schema {
            MetaSchemaRef::Inline(schema) => schema.as_ref(),
            MetaSchemaRef::Reference(name) => match self.schemas.get(name) {
                Some(schema) => schema,
                None => return Ok(()),
            },
        };
        if schema.ty == "string" && (value.is_number() || value.is_boolean()) {
            return Err(format!("{at}: expected a string, got {value}"));
        }
        for part in &schema.all_of {
            self.check(part, value, at)?;
        }
        for alternatives in [&schema.one_of, &schema.any_of] {
            // A value fitting any alternative fits; else the complaint of an alternative whose
            // required properties it has (the one the client meant), or the first.
            let mut complaints = Vec::new();
            for alternative in alternatives {
                match self.check(alternative, value, at) {
                    Ok(()) => {
                        complaints.clear();
                        break;
                    }
                    Err(e) => complaints.push(e),
                }
            }
            let meant = complaints.iter().position(|c| !c.ends_with(": required"));
            if let Some(complaint) = meant.or((!complaints.is_empty()).then_some(0)) {
                return Err(complaints.swap_remove(complaint));
            }
        }
        match value {
            Value::Object(object) => {
                // Also what makes an object fit one alternative of a `oneOf` and not another.
                if let Some(missing) = schema.required.iter().find(|r| !object.contains_key(**r)) {
                    return Err(format!("{at}.{missing}: required"));
                }
                // An object of named fields takes no others (the spec says
                // `additionalProperties: false`); maps declare their values instead.
                let closed = schema.ty == "object"
                    && !schema.properties.is_empty()
                    && schema.additional_properties.is_none();
                for (name, field) in object {
                    let property = schema.properties.iter().find(|(p, _)| *p == name.as_str());
                    let field_schema = match property {
                        Some((_, s)) => Some(s),
                        None if closed => return Err(format!("{at}: unknown field {name:?}")),
                        None => schema.additional_properties.as_deref(),
                    };
                    if let Some(s) = field_schema {
                        self.check(s, field, &format!("{at}.{name}"))?;
                    }
                }
            }
            Value::Array(items) => {
                if let Some(s) = &schema.items {
                    for (i, item) in items.iter().enumerate() {
                        self.check(s, item, &format!("{at}[{i}]"))?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::{Object, Union};

    use super::*;

    /// A body with strings at every depth.
    #[derive(Debug, Object)]
    #[allow(dead_code)] // parsed, never read
    struct Probe {
        name: String,
        tags: Vec<String>,
        labels: Option<HashMap<String, String>>,
        count: Option<i32>,
        extra: Option<Value>,
    }

    /// Many probes.
    #[derive(Debug, Object)]
    #[allow(dead_code)] // parsed, never read
    struct Batch {
        probes: Vec<Probe>,
    }

    /// One probe or many, told apart by their fields.
    #[derive(Debug, Union)]
    #[oai(one_of)]
    #[allow(dead_code)] // parsed, never read
    enum OneOrMany {
        Many(Batch),
        One(Probe),
    }

    #[test]
    fn the_alternative_a_body_fits_is_the_one_checked() {
        assert!(parse::<OneOrMany>(br#"{"name": "a", "tags": []}"#).is_ok());
        let err = parse::<OneOrMany>(br#"{"name": 5, "tags": []}"#).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
        let err = parse::<OneOrMany>(br#"{"probes": [{"name": true, "tags": []}]}"#).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }

    fn reason(body: &str) -> String {
        parse::<Probe>(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn numbers_and_booleans_are_not_strings_at_any_depth() {
        assert!(parse::<Probe>(br#"{"name": "a", "tags": ["b"], "count": 1}"#).is_ok());
        for body in [
            r#"{"name": false, "tags": []}"#,
            r#"{"name": 12, "tags": []}"#,
            r#"{"name": "a", "tags": ["b", 3]}"#,
            r#"{"name": "a", "tags": [], "labels": {"k": true}}"#,
        ] {
            assert!(reason(body).contains("expected a string"), "{body}");
        }
        // Free-form JSON stays free-form.
        assert!(parse::<Probe>(br#"{"name": "a", "tags": [], "extra": {"x": 1}}"#).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused_at_any_depth_but_maps_take_any_key() {
        assert!(reason(r#"{"name": "a", "tags": [], "colour": "red"}"#).contains("unknown field"));
        let nested = r#"{"probes": [{"name": "a", "tags": [], "colour": "red"}]}"#;
        let err = parse::<OneOrMany>(nested.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        assert!(parse::<Probe>(br#"{"name": "a", "tags": [], "labels": {"any": "x"}}"#).is_ok());
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [
            r#"{"name": "a", "name": "b", "tags": []}"#,
            r#"{"name": "a", "tags": [], "extra": {"x": 1, "x": 2}}"#,
        ] {
            assert!(reason(body).contains("duplicate key"), "{body}");
        }
    }
}
