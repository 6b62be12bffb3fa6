//! The OpenAPI document as served: poem-openapi's, completed with what its derives cannot say
//! but the server does, so a client (or a fuzzer) generated from the spec meets no surprise.
//!
//! - Every operation with a request body declares 413 (over `TRAE_MAX_BODY_BYTES`) and 415 (not
//!   `application/json`), which the body limit and the body parser answer.
//! - Every optional property is `nullable`: poem-openapi writes a `None` as `null` and reads a
//!   `null` as absent, but describes an `Option<T>` as a plain `T`.
//! - Every object of named fields has `additionalProperties: false`: request bodies with other
//!   fields are refused ([`crate::api::json_body`]), and responses never have any.
//! - The `limit` and `offset` query parameters of every list carry the range
//!   [`PageRequest`](trae_core::PageRequest) enforces (one rule, read from where it lives).
//! - Every integer states the range of its format (`uint8` is 0–255, `int32` …), which the
//!   parser enforces but poem-openapi names only by the format.

use serde_json::{Map, Value, json};
use trae_core::PageRequest;

use crate::error::ErrorBody;

/// `raw` (poem-openapi's JSON document) completed as described in the module docs.
pub fn finish(raw: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(raw) else {
        return raw.to_owned();
    };
    for (_, item) in doc["paths"].as_object_mut().into_iter().flatten() {
        for (_, op) in item.as_object_mut().into_iter().flatten() {
            declare_body_statuses(op);
            declare_page_ranges(op);
        }
    }
    integer_ranges(&mut doc);
    let schemas = doc["components"]["schemas"].as_object_mut();
    for (_, schema) in schemas.into_iter().flatten() {
        close_object(schema);
    }
    doc.to_string()
}

/// Gives every integer schema in `value` (at any depth) the bounds of its format, unless it
/// states its own.
fn integer_ranges(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("integer") {
                let bounds: Option<(i64, u64)> = match map.get("format").and_then(Value::as_str) {
                    Some("int8") => Some((i8::MIN.into(), i8::MAX as u64)),
                    Some("int16") => Some((i16::MIN.into(), i16::MAX as u64)),
                    Some("int32") => Some((i32::MIN.into(), i32::MAX as u64)),
                    Some("int64") => Some((i64::MIN, i64::MAX as u64)),
                    Some("uint8") => Some((0, u8::MAX.into())),
                    Some("uint16") => Some((0, u16::MAX.into())),
                    Some("uint32") => Some((0, u32::MAX.into())),
                    Some("uint64") => Some((0, u64::MAX)),
                    _ => None,
                };
                if let Some((min, max)) = bounds {
                    map.entry("minimum").or_insert_with(|| json!(min));
                    map.entry("maximum").or_insert_with(|| json!(max));
                }
            }
            map.values_mut().for_each(integer_ranges);
        }
        Value::Array(items) => items.iter_mut().for_each(integer_ranges),
        _ => {}
    }
}

/// Adds 413 and 415 to an operation that takes a body.
fn declare_body_statuses(op: &mut Value) {
    if op.get("requestBody").is_none() {
        return;
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json; charset=utf-8": {"schema": {
                "$ref": format!("#/components/schemas/{}", <ErrorBody as poem_openapi::types::Type>::name())
            }}}
        })
    };
    responses
        .entry("413")
        .or_insert_with(|| error("The body exceeds the size limit"));
    responses
        .entry("415")
        .or_insert_with(|| error("The body is not `application/json`"));
}

/// Declares the page range on `limit` and `offset` query parameters.
fn declare_page_ranges(op: &mut Value) {
    // `get_mut`, not indexing: indexing a missing key would add it as `null`.
    let params = op.get_mut("parameters").and_then(Value::as_array_mut);
    for param in params.into_iter().flatten() {
        if param["in"] != "query" {
            continue;
        }
        let name = param["name"].as_str().map(str::to_owned);
        let schema = &mut param["schema"];
        match name.as_deref() {
            Some("limit") => {
                schema["minimum"] = json!(1);
                schema["maximum"] = json!(PageRequest::MAX_LIMIT);
            }
            Some("offset") => schema["minimum"] = json!(0),
            _ => {}
        }
    }
}

/// Closes an object schema to other fields and marks every property it does not require as
/// nullable.
fn close_object(schema: &mut Value) {
    let required: Vec<String> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    if schema.get("additionalProperties").is_none() && schema.get("properties").is_some() {
        schema["additionalProperties"] = Value::Bool(false);
    }
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        if required.contains(name) {
            continue;
        }
        // A `$ref`'s siblings are ignored in OpenAPI 3.0, so a reference is wrapped first.
        if let Some(reference) = property.get("$ref").cloned() {
            let mut wrapped = Map::new();
            wrapped.insert("allOf".to_owned(), json!([{ "$ref": reference }]));
            *property = Value::Object(wrapped);
        }
        if property.is_object() {
            property["nullable"] = Value::Bool(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_gain_body_statuses_and_page_ranges_and_nothing_else() {
        let raw = json!({
            "paths": {
                "/a": {"post": {"requestBody": {}, "responses": {"200": {}}}},
                "/b": {"get": {
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": {}}
                }}
            },
            "components": {"schemas": {}}
        });
        let done: Value = serde_json::from_str(&finish(&raw.to_string())).unwrap();
        let post = &done["paths"]["/a"]["post"];
        assert!(post["responses"]["413"].is_object() && post["responses"]["415"].is_object());
        assert!(post.get("parameters").is_none(), "{post}");
        let get = &done["paths"]["/b"]["get"];
        assert!(get["responses"].get("415").is_none(), "{get}");
        assert_eq!(
            get["parameters"][0]["schema"],
            json!({"type": "integer", "minimum": 1, "maximum": 500})
        );
    }

    #[test]
    fn integers_state_the_range_of_their_format_unless_they_have_one() {
        let raw = json!({"paths": {}, "components": {"schemas": {"N": {
            "type": "object",
            "required": ["a", "b", "c"],
            "properties": {
                "a": {"type": "integer", "format": "uint8"},
                "b": {"type": "integer", "format": "int32", "minimum": 0},
                "c": {"type": "integer", "format": "uint64"}
            }
        }}}});
        let done: Value = serde_json::from_str(&finish(&raw.to_string())).unwrap();
        let props = &done["components"]["schemas"]["N"]["properties"];
        assert_eq!(
            (&props["a"]["minimum"], &props["a"]["maximum"]),
            (&json!(0), &json!(255))
        );
        assert_eq!(
            (&props["b"]["minimum"], &props["b"]["maximum"]),
            (&json!(0), &json!(i32::MAX))
        );
        assert_eq!(props["c"]["maximum"], json!(u64::MAX));
    }

    #[test]
    fn optional_properties_become_nullable_and_references_are_wrapped() {
        let raw = json!({
            "paths": {},
            "components": {"schemas": {"Pet": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "nick": {"type": "string"},
                    "species": {"$ref": "#/components/schemas/Species"}
                }
            }}}
        });
        let done: Value = serde_json::from_str(&finish(&raw.to_string())).unwrap();
        assert_eq!(
            done["components"]["schemas"]["Pet"]["additionalProperties"],
            false
        );
        let props = &done["components"]["schemas"]["Pet"]["properties"];
        assert_eq!(props["name"], json!({"type": "string"}));
        assert_eq!(props["nick"], json!({"type": "string", "nullable": true}));
        assert_eq!(
            props["species"],
            json!({"allOf": [{"$ref": "#/components/schemas/Species"}], "nullable": true})
        );
    }
}
