//! A project's specification, as a genesis interview ends in it: goals, users, features with
//! their acceptance criteria, constraints and what is out of scope; JSON for machines and
//! markdown for people, versioned per interview.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::interview::{ProjectType, QuestionSource};
use crate::{Error, Result};

/// The most items in one list of a spec.
pub const MAX_ITEMS: usize = 50;
/// The most characters of one item.
pub const MAX_ITEM_CHARS: usize = 1_000;

/// One feature and how to know it works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// A short name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Checks that show it works, each one observable.
    pub acceptance: Vec<String>,
}

/// A project's specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// The project's name or one-line idea.
    pub title: String,
    /// What it is, in a few sentences.
    #[serde(default)]
    pub summary: String,
    /// What it must achieve.
    pub goals: Vec<String>,
    /// Who uses it.
    #[serde(default)]
    pub users: Vec<String>,
    /// What it must do.
    pub features: Vec<Feature>,
    /// Limits it must respect (language, platform, performance).
    #[serde(default)]
    pub constraints: Vec<String>,
    /// What it will not do.
    #[serde(default)]
    pub out_of_scope: Vec<String>,
}

impl Spec {
    /// The JSON Schema a spec satisfies (the shape a model is asked for).
    pub fn json_schema() -> Value {
        let strings = json!({"type": "array", "items": {"type": "string"}});
        json!({
            "type": "object",
            "required": ["title", "goals", "features"],
            "properties": {
                "title": {"type": "string"},
                "summary": {"type": "string"},
                "goals": strings,
                "users": strings,
                "features": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "acceptance"],
                        "properties": {
                            "name": {"type": "string"},
                            "description": {"type": "string"},
                            "acceptance": strings,
                        },
                    },
                },
                "constraints": strings,
                "out_of_scope": strings,
            },
        })
    }

    /// Checks what a schema cannot: a title, at least one goal and one feature, every feature
    /// named with at least one acceptance criterion, nothing blank, nothing too long.
    pub fn validate(&self) -> Result<()> {
        let text = |field: &str, value: &str| {
            if value.trim().is_empty() {
                Err(Error::validation(field, "must not be blank"))
            } else if value.chars().count() > MAX_ITEM_CHARS {
                Err(Error::validation(
                    field,
                    format!("at most {MAX_ITEM_CHARS} characters"),
                ))
            } else {
                Ok(())
            }
        };
        let list = |field: &str, items: &[String], at_least: usize| {
            if items.len() < at_least {
                return Err(Error::validation(
                    field,
                    format!("needs at least {at_least}"),
                ));
            }
            if items.len() > MAX_ITEMS {
                return Err(Error::validation(field, format!("at most {MAX_ITEMS}")));
            }
            items.iter().try_for_each(|item| text(field, item))
        };
        text("spec.title", &self.title)?;
        list("spec.goals", &self.goals, 1)?;
        list("spec.users", &self.users, 0)?;
        list("spec.constraints", &self.constraints, 0)?;
        list("spec.out_of_scope", &self.out_of_scope, 0)?;
        if self.features.is_empty() || self.features.len() > MAX_ITEMS {
            return Err(Error::validation(
                "spec.features",
                format!("needs 1 to {MAX_ITEMS}"),
            ));
        }
        for feature in &self.features {
            text("spec.features.name", &feature.name)?;
            list("spec.features.acceptance", &feature.acceptance, 1)?;
        }
        Ok(())
    }

    /// The spec as markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n", self.title.trim());
        if !self.summary.trim().is_empty() {
            let _ = writeln!(out, "{}\n", self.summary.trim());
        }
        let section = |out: &mut String, heading: &str, items: &[String]| {
            if items.is_empty() {
                return;
            }
            let _ = writeln!(out, "## {heading}\n");
            for item in items {
                let _ = writeln!(out, "- {}", item.trim());
            }
            out.push('\n');
        };
        section(&mut out, "Goals", &self.goals);
        section(&mut out, "Users", &self.users);
        let _ = writeln!(out, "## Features\n");
        for feature in &self.features {
            let _ = writeln!(out, "### {}\n", feature.name.trim());
            if !feature.description.trim().is_empty() {
                let _ = writeln!(out, "{}\n", feature.description.trim());
            }
            let _ = writeln!(out, "Acceptance:\n");
            for check in &feature.acceptance {
                let _ = writeln!(out, "- [ ] {}", check.trim());
            }
            out.push('\n');
        }
        section(&mut out, "Constraints", &self.constraints);
        section(&mut out, "Out of scope", &self.out_of_scope);
        format!("{}\n", out.trim_end())
    }
}

/// One version of an interview's spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecVersion {
    /// The interview it came from.
    pub interview_id: Uuid,
    /// 1 for the first spec, then one more per new spec (after a revised answer).
    pub version: u32,
    /// The project type it was written for.
    pub project_type: ProjectType,
    /// The spec.
    pub spec: Spec,
    /// The spec as markdown.
    pub markdown: String,
    /// Who wrote it: the model, or the templates from the answers.
    pub source: QuestionSource,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            title: "Todo API".into(),
            summary: "A small API for todos.".into(),
            goals: vec!["Track todos".into()],
            users: vec!["Developers".into()],
            features: vec![Feature {
                name: "Create".into(),
                description: "POST a todo".into(),
                acceptance: vec!["POST /todos returns 201".into()],
            }],
            constraints: vec![],
            out_of_scope: vec!["Auth".into()],
        }
    }

    #[test]
    fn a_spec_needs_goals_and_features_with_acceptance() {
        assert!(spec().validate().is_ok());
        let mut bad = spec();
        bad.features[0].acceptance.clear();
        assert!(
            matches!(bad.validate(), Err(Error::Validation { field, .. }) if field == "spec.features.acceptance")
        );
        let mut bad = spec();
        bad.goals = vec!["  ".into()];
        assert!(
            matches!(bad.validate(), Err(Error::Validation { field, .. }) if field == "spec.goals")
        );
        let mut bad = spec();
        bad.features.clear();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn the_markdown_has_every_section_with_content() {
        let md = spec().to_markdown();
        assert_eq!(
            md,
            "# Todo API\n\nA small API for todos.\n\n## Goals\n\n- Track todos\n\n## Users\n\n- Developers\n\n## Features\n\n### Create\n\nPOST a todo\n\nAcceptance:\n\n- [ ] POST /todos returns 201\n\n## Out of scope\n\n- Auth\n"
        );
    }
}
