//! A model provider: an API-registry endpoint of capability [`LLM_CHAT`], described by its
//! `metadata` (default model, the models pinned to it, context window, prices).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chat::ModelPrice;
use crate::{Error, Result};

/// The capability of an endpoint that speaks the OpenAI chat-completions API.
pub const LLM_CHAT: &str = "llm.chat";

/// Calls a language model (and lists the models there are).
pub const LLM_USE: &str = "llm:use";

/// What an `llm.chat` endpoint's `metadata` says about it. Every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderSettings {
    /// The model a request that names none gets.
    pub default_model: Option<String>,
    /// The only models this endpoint serves (the default model included); empty: any model.
    pub models: Vec<String>,
    /// The most tokens of request and answer together.
    pub context_window: Option<u32>,
    /// Its price, when it has one.
    pub price: Option<ModelPrice>,
    /// Whether it takes `response_format: {"type": "json_schema"}`; if not, the schema is
    /// put into the instructions and the answer checked against it.
    pub json_schema: bool,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            default_model: None,
            models: Vec::new(),
            context_window: None,
            price: None,
            json_schema: true,
        }
    }
}

fn field(name: &str) -> String {
    format!("metadata.{name}")
}

fn text(metadata: &Value, name: &str) -> Result<Option<String>> {
    match metadata.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => Ok(Some(s.clone())),
        Some(_) => Err(Error::validation(
            field(name),
            "must be a model name of 1 to 256 characters",
        )),
    }
}

fn price(metadata: &Value, name: &str) -> Result<Option<f64>> {
    match metadata.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(p) if p.is_finite() && p >= 0.0 => Ok(Some(p)),
            _ => Err(Error::validation(
                field(name),
                "must be a price in dollars per million tokens, 0 or more",
            )),
        },
    }
}

impl ProviderSettings {
    /// Reads `metadata`; a validation error names the key (`metadata.context_window`) that
    /// breaks a rule.
    pub fn from_metadata(metadata: &Value) -> Result<Self> {
        let default_model = text(metadata, "default_model")?;
        let models = match metadata.get("models") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) if !s.trim().is_empty() && s.len() <= 256 => Ok(s.clone()),
                    _ => Err(Error::validation(
                        format!("metadata.models[{i}]"),
                        "must be a model name of 1 to 256 characters",
                    )),
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(Error::validation(
                    field("models"),
                    "must be a list of model names",
                ));
            }
        };
        let context_window = match metadata.get("context_window") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n >= 16 => Some(n),
                _ => {
                    return Err(Error::validation(
                        field("context_window"),
                        "must be a whole number of tokens, at least 16",
                    ));
                }
            },
        };
        let input = price(metadata, "input_price_per_million")?;
        let output = price(metadata, "output_price_per_million")?;
        let price = (input.is_some() || output.is_some()).then(|| ModelPrice {
            input_per_million: input.unwrap_or(0.0),
            output_per_million: output.unwrap_or(0.0),
        });
        let json_schema = match metadata.get("json_schema") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(Error::validation(
                    field("json_schema"),
                    "must be true or false",
                ));
            }
        };
        if let Some(default) = &default_model
            && !models.is_empty()
            && !models.contains(default)
        {
            return Err(Error::validation(
                field("default_model"),
                format!("{default} is not among the endpoint's models"),
            ));
        }
        Ok(Self {
            default_model,
            models,
            context_window,
            price,
            json_schema,
        })
    }

    /// The model to ask this endpoint for when a request names `wanted`; `None` when the
    /// endpoint does not serve it (pinned to other models) or the request names none and the
    /// endpoint has no default.
    pub fn model_for(&self, wanted: Option<&str>) -> Option<String> {
        match wanted {
            Some(model) if self.models.is_empty() || self.models.iter().any(|m| m == model) => {
                Some(model.to_owned())
            }
            Some(_) => None,
            None => self
                .default_model
                .clone()
                .or_else(|| self.models.first().cloned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(metadata: &Value) -> String {
        match ProviderSettings::from_metadata(metadata).unwrap_err() {
            Error::Validation { field, .. } => field,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn metadata_reads_into_settings() {
        let s = ProviderSettings::from_metadata(&json!({
            "default_model": "gpt-4o-mini",
            "models": ["gpt-4o-mini", "gpt-4o"],
            "context_window": 128000,
            "input_price_per_million": 0.15,
            "output_price_per_million": 0.6,
            "region": "eu"
        }))
        .unwrap();
        assert_eq!(s.context_window, Some(128_000));
        assert_eq!(s.price.unwrap().output_per_million, 0.6);
        assert!(s.json_schema);
        let empty = ProviderSettings::from_metadata(&json!({})).unwrap();
        assert_eq!(empty, ProviderSettings::default());
        assert_eq!(empty.price, None);
    }

    #[test]
    fn each_broken_key_is_named() {
        assert_eq!(
            field_of(&json!({"default_model": 3})),
            "metadata.default_model"
        );
        assert_eq!(field_of(&json!({"models": "a"})), "metadata.models");
        assert_eq!(
            field_of(&json!({"models": ["a", ""]})),
            "metadata.models[1]"
        );
        assert_eq!(
            field_of(&json!({"context_window": -1})),
            "metadata.context_window"
        );
        assert_eq!(
            field_of(&json!({"context_window": 1.5})),
            "metadata.context_window"
        );
        assert_eq!(
            field_of(&json!({"input_price_per_million": "1"})),
            "metadata.input_price_per_million"
        );
        assert_eq!(
            field_of(&json!({"output_price_per_million": -0.1})),
            "metadata.output_price_per_million"
        );
        assert_eq!(
            field_of(&json!({"json_schema": "yes"})),
            "metadata.json_schema"
        );
        assert_eq!(
            field_of(&json!({"default_model": "x", "models": ["y"]})),
            "metadata.default_model"
        );
    }

    #[test]
    fn a_pinned_endpoint_serves_only_its_models() {
        let pinned = ProviderSettings::from_metadata(&json!({"models": ["smollm2"]})).unwrap();
        assert_eq!(
            pinned.model_for(Some("smollm2")).as_deref(),
            Some("smollm2")
        );
        assert_eq!(pinned.model_for(Some("gpt-4o-mini")), None);
        assert_eq!(pinned.model_for(None).as_deref(), Some("smollm2"));
        let open = ProviderSettings::from_metadata(&json!({"default_model": "m"})).unwrap();
        assert_eq!(open.model_for(Some("other")).as_deref(), Some("other"));
        assert_eq!(open.model_for(None).as_deref(), Some("m"));
        assert_eq!(ProviderSettings::default().model_for(None), None);
    }
}
