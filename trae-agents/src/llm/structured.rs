//! Structured answers: the JSON Schema a request's `response_format` names, compiled once,
//! and the check of an answer against it, with the message that asks the model to repair a
//! wrong one.

use serde_json::Value;
use trae_core::{Error, Result};

/// A compiled answer schema. Only the schema itself is read: no `$ref` to a file or URL is
/// ever fetched.
pub struct AnswerSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for AnswerSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnswerSchema(..)")
    }
}

/// Why an answer does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The JSON pointer into the answer (`/` for the whole of it).
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl Mismatch {
    /// The typed error a caller gets when no repair helped.
    pub fn into_error(self) -> Error {
        Error::InvalidAnswer {
            path: self.path,
            message: self.message,
        }
    }

    /// The message asking the model for a corrected answer.
    pub fn repair_prompt(&self) -> String {
        format!(
            "Your answer does not satisfy the JSON Schema: at {} {}. Answer again with only \
             the corrected JSON.",
            self.path, self.message
        )
    }
}

impl AnswerSchema {
    /// Compiles `schema`; a schema that is not valid JSON Schema is a validation error on
    /// `response_format.schema`.
    pub fn compile(schema: &Value) -> Result<Self> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| {
                Error::validation(
                    "response_format.schema",
                    format!("not a usable JSON Schema: {e}"),
                )
            })?;
        Ok(Self { validator })
    }

    /// The answer as JSON if it satisfies the schema. A fenced code block around the JSON
    /// (as models write when only instructed) is tolerated.
    pub fn check(&self, content: Option<&str>) -> std::result::Result<Value, Mismatch> {
        let text = unfence(content.unwrap_or_default());
        let value: Value = serde_json::from_str(text).map_err(|e| Mismatch {
            path: "/".into(),
            message: format!("the answer is not JSON ({e})"),
        })?;
        match self.validator.validate(&value) {
            Ok(()) => Ok(value),
            Err(e) => {
                let path = e.instance_path().to_string();
                Err(Mismatch {
                    path: if path.is_empty() { "/".into() } else { path },
                    message: e.to_string(),
                })
            }
        }
    }
}

/// `text` without a surrounding Markdown code fence.
fn unfence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return trimmed;
    };
    // The fence's first line may name a language (```json).
    match body.find('\n') {
        Some(nl) if !body[..nl].contains(['{', '[', '"']) => body[nl + 1..].trim(),
        _ => body.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> AnswerSchema {
        AnswerSchema::compile(&json!({
            "type": "object",
            "required": ["steps"],
            "properties": {"steps": {"type": "array", "items": {"type": "string"}}},
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn a_fitting_answer_passes_fenced_or_not() {
        let s = schema();
        assert_eq!(
            s.check(Some(r#"{"steps":["a"]}"#)).unwrap(),
            json!({"steps": ["a"]})
        );
        assert_eq!(
            s.check(Some("```json\n{\"steps\": []}\n```")).unwrap(),
            json!({"steps": []})
        );
        assert_eq!(
            s.check(Some("```{\"steps\": []}```")).unwrap(),
            json!({"steps": []})
        );
    }

    #[test]
    fn a_wrong_answer_names_the_path_that_failed() {
        let s = schema();
        let m = s.check(Some(r#"{"steps":["a", 2]}"#)).unwrap_err();
        assert_eq!(m.path, "/steps/1");
        assert!(m.message.contains("string"), "{}", m.message);
        let m = s.check(Some("Sure! Here it is")).unwrap_err();
        assert_eq!(m.path, "/");
        assert!(m.message.contains("not JSON"));
        assert_eq!(s.check(None).unwrap_err().path, "/");
        let m = s.check(Some("{}")).unwrap_err();
        assert_eq!(m.path, "/");
        assert!(m.repair_prompt().contains("steps"), "{}", m.repair_prompt());
        match m.into_error() {
            Error::InvalidAnswer { path, .. } => assert_eq!(path, "/"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unusable_schema_is_the_callers_mistake() {
        match AnswerSchema::compile(&json!({"type": "no-such-type"})).unwrap_err() {
            Error::Validation { field, .. } => assert_eq!(field, "response_format.schema"),
            other => panic!("{other:?}"),
        }
    }
}
