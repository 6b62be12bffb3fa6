//! The interview templates: per project type, the questions a spec needs answered, and the
//! spec written from their answers alone (when no model is configured, or its answers fail
//! validation).

use super::interview::{Interview, ProjectType};
use super::spec::{Feature, MAX_ITEM_CHARS, MAX_ITEMS, Spec};
use crate::Result;

/// One template question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateQuestion {
    /// What its answer fills in the spec.
    pub key: &'static str,
    /// The question.
    pub text: &'static str,
}

const fn q(key: &'static str, text: &'static str) -> TemplateQuestion {
    TemplateQuestion { key, text }
}

/// The questions for a project type, in the order asked: one about the type's shape first,
/// then the ones every spec needs.
pub fn questions(project_type: ProjectType) -> Vec<TemplateQuestion> {
    let first = match project_type {
        ProjectType::WebApp => q(
            "shape",
            "Which pages or screens does the web app have, and what does a user do on each?",
        ),
        ProjectType::Api => q(
            "shape",
            "Which resources does the API expose, and which operations on each (one per line)?",
        ),
        ProjectType::Cli => q(
            "shape",
            "Which commands and options does the tool have, and what does each print or change?",
        ),
        ProjectType::Library => q(
            "shape",
            "Which functions or types does the library offer its callers (one per line)?",
        ),
        ProjectType::DataPipeline => q(
            "shape",
            "Where does the data come from, how is it transformed, and where does it go?",
        ),
        ProjectType::Other => q("shape", "What does it do, from the user's point of view?"),
    };
    vec![
        first,
        q("users", "Who will use it (one kind of user per line)?"),
        q("goals", "What must it achieve (one goal per line)?"),
        q(
            "features",
            "Which features must it have? One per line, as `feature: how you would check it works`.",
        ),
        q(
            "constraints",
            "Any constraints: language, platform, performance, data it must handle (one per line, or `none`)?",
        ),
        q(
            "out_of_scope",
            "What is explicitly out of scope (one per line, or `none`)?",
        ),
    ]
}

/// The template questions not yet asked in `interview`, in order.
pub fn remaining(interview: &Interview) -> Vec<TemplateQuestion> {
    questions(interview.project_type)
        .into_iter()
        .filter(|q| {
            !interview
                .turns
                .iter()
                .any(|t| t.key.as_deref() == Some(q.key))
        })
        .collect()
}

/// The spec written from the interview's answers alone: each template question's answer, line
/// by line, into its part of the spec (at most [`MAX_ITEMS`] items of at most
/// [`MAX_ITEM_CHARS`] characters each, longer ones cut); answers to other questions into the
/// summary. The spec is validated before it is returned.
pub fn spec_from_answers(interview: &Interview) -> Result<Spec> {
    let answer = |key: &str| -> Vec<String> {
        interview
            .turns
            .iter()
            .filter(|t| t.key.as_deref() == Some(key))
            .filter_map(|t| t.answer.as_deref())
            .flat_map(str::lines)
            .map(|l| l.trim().trim_start_matches(['-', '*']).trim().to_owned())
            .filter(|l| !l.is_empty() && !l.eq_ignore_ascii_case("none"))
            .map(|l| cut(&l, MAX_ITEM_CHARS - SUFFIX.len()))
            .take(MAX_ITEMS)
            .collect()
    };
    let idea = interview.idea.trim();
    let title: String = idea
        .lines()
        .next()
        .unwrap_or("Project")
        .chars()
        .take(80)
        .collect();
    let mut summary = idea.to_owned();
    for turn in &interview.turns {
        if (turn.key.is_none() || turn.key.as_deref() == Some("shape"))
            && let Some(text) = &turn.answer
        {
            summary.push_str("\n\n");
            summary.push_str(text.trim());
        }
    }
    let mut features: Vec<Feature> = answer("features")
        .into_iter()
        .map(|line| match line.split_once(':') {
            Some((name, check)) if !name.trim().is_empty() && !check.trim().is_empty() => Feature {
                name: name.trim().to_owned(),
                description: String::new(),
                acceptance: vec![check.trim().to_owned()],
            },
            _ => Feature {
                name: line.clone(),
                description: String::new(),
                acceptance: vec![format!("{line} works as described")],
            },
        })
        .collect();
    if features.is_empty() {
        features.push(Feature {
            name: title.clone(),
            description: String::new(),
            acceptance: vec![format!("{title}{SUFFIX}")],
        });
    }
    let mut goals = answer("goals");
    if goals.is_empty() {
        goals.push(title.clone());
    }
    let spec = Spec {
        title,
        summary,
        goals,
        users: answer("users"),
        features,
        constraints: answer("constraints"),
        out_of_scope: answer("out_of_scope"),
    };
    spec.validate()?;
    Ok(spec)
}

/// What a feature line without its own check is checked by.
const SUFFIX: &str = " works as described";

/// `text` cut to at most `max` characters.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::solo::interview::{InterviewStatus, QuestionSource, Turn};

    fn interview(answers: &[(&str, &str)]) -> Interview {
        let now = Utc::now();
        Interview {
            id: Uuid::now_v7(),
            owner: None,
            project_type: ProjectType::Api,
            idea: "A todo API\nfor teams".into(),
            status: InterviewStatus::Open,
            turns: answers
                .iter()
                .enumerate()
                .map(|(i, (key, answer))| Turn {
                    index: u32::try_from(i).unwrap(),
                    question: "?".into(),
                    key: Some((*key).to_owned()),
                    source: QuestionSource::Template,
                    fallback: None,
                    answer: Some((*answer).to_owned()),
                    asked_at: now,
                    answered_at: Some(now),
                })
                .collect(),
            spec_version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn every_type_asks_what_a_spec_needs() {
        for project_type in ProjectType::ALL {
            let keys: Vec<&str> = questions(project_type).iter().map(|q| q.key).collect();
            assert_eq!(
                keys,
                [
                    "shape",
                    "users",
                    "goals",
                    "features",
                    "constraints",
                    "out_of_scope"
                ]
            );
        }
        let half = interview(&[("shape", "todos"), ("users", "devs")]);
        let left: Vec<&str> = remaining(&half).iter().map(|q| q.key).collect();
        assert_eq!(left, ["goals", "features", "constraints", "out_of_scope"]);
    }

    #[test]
    fn the_answers_fill_a_valid_spec() {
        let spec = spec_from_answers(&interview(&[
            ("shape", "todos: list, create"),
            ("users", "- developers\n- team leads"),
            ("goals", "track work"),
            (
                "features",
                "create a todo: POST /todos answers 201\nlist todos",
            ),
            ("constraints", "none"),
            ("out_of_scope", "billing"),
        ]))
        .unwrap();
        assert_eq!(spec.title, "A todo API");
        assert_eq!(spec.users, ["developers", "team leads"]);
        assert_eq!(spec.features[0].name, "create a todo");
        assert_eq!(spec.features[0].acceptance, ["POST /todos answers 201"]);
        assert_eq!(
            spec.features[1].acceptance,
            ["list todos works as described"]
        );
        assert!(spec.constraints.is_empty());
        assert!(spec.summary.contains("todos: list, create"));
        // Nothing answered still gives a spec that validates.
        spec_from_answers(&interview(&[])).unwrap();
        // However long the answers, the spec keeps to its limits.
        let long = format!("{}\n", "y".repeat(3_000)).repeat(60);
        let spec = spec_from_answers(&interview(&[("goals", &long), ("features", &long)])).unwrap();
        assert_eq!(spec.goals.len(), MAX_ITEMS);
        assert!(spec.features[0].acceptance[0].chars().count() <= MAX_ITEM_CHARS);
    }
}
