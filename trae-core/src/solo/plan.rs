//! A SOLO plan: the steps that build a spec, as a graph. Each step has a goal, one tool with
//! its inputs, an acceptance check and the steps it depends on. A plan is refused unless it
//! is a bounded, acyclic graph of known tools with well-formed inputs, so nothing runs from a
//! plan that cannot be followed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::tdd::edit::project_path;
use crate::{Error, Result};

/// The most steps in one plan.
pub const MAX_STEPS: usize = 50;
/// The most characters of a step id.
pub const MAX_ID_CHARS: usize = 64;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// Writes (or, with `delete`, removes) a file of the project through the edit engine:
    /// `{"path", "content"}` or `{"path", "delete": true}`.
    WriteFile,
    /// Runs the project's tests: `{"command"}` (a test command line).
    RunTests,
    /// The TDD loop, to make failing tests pass: `{"command"}`.
    TddRepair,
    /// Runs a command (argv, never a shell): `{"argv": [...]}`.
    Command,
    /// An HTTP call through the orchestrator: `{"method", "url"}`.
    Http,
}

impl Tool {
    /// Every tool.
    pub const ALL: [Self; 5] = [
        Self::WriteFile,
        Self::RunTests,
        Self::TddRepair,
        Self::Command,
        Self::Http,
    ];

    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WriteFile => "write_file",
            Self::RunTests => "run_tests",
            Self::TddRepair => "tdd_repair",
            Self::Command => "command",
            Self::Http => "http",
        }
    }

    /// The tool named `name`, or a validation error listing the tools.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                Error::validation(
                    "plan.steps.tool",
                    format!("unknown tool {name:?}; tools are {}", names.join(", ")),
                )
            })
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// Its id, unique in the plan (letters, digits, `_`, `-`).
    pub id: String,
    /// What it achieves.
    pub goal: String,
    /// The tool it uses.
    pub tool: Tool,
    /// The tool's inputs.
    pub inputs: Value,
    /// How to tell it worked (a test command line, checked after the step), when it can be.
    pub acceptance: Option<String>,
    /// The steps that must finish first.
    pub depends_on: Vec<String>,
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Its steps, in the order they were written.
    pub steps: Vec<PlanStep>,
}

impl Plan {
    /// The JSON Schema of a plan (the shape a model is asked for).
    pub fn json_schema() -> Value {
        let names: Vec<&str> = Tool::ALL.iter().map(|t| t.as_str()).collect();
        json!({
            "type": "object",
            "required": ["steps"],
            "properties": {
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "goal", "tool", "inputs"],
                        "properties": {
                            "id": {"type": "string"},
                            "goal": {"type": "string"},
                            "tool": {"enum": names},
                            "inputs": {"type": "object"},
                            "acceptance": {"type": ["string", "null"]},
                            "depends_on": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        })
    }

    /// Reads a plan from JSON (a model's answer, a client's body), naming what is wrong: an
    /// unknown tool, a missing field; then [`Plan::validate`]s it.
    pub fn parse(value: &Value) -> Result<Self> {
        let steps = value
            .get("steps")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::validation("plan.steps", "must be a list of steps"))?;
        let text = |step: &Value, field: &str| -> Result<String> {
            step.get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::validation(format!("plan.steps.{field}"), "must be a string"))
        };
        let mut parsed = Vec::with_capacity(steps.len());
        for step in steps {
            let depends_on = match step.get("depends_on") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(ids)) => ids
                    .iter()
                    .map(|id| {
                        id.as_str().map(str::to_owned).ok_or_else(|| {
                            Error::validation("plan.steps.depends_on", "must be step ids")
                        })
                    })
                    .collect::<Result<_>>()?,
                Some(_) => {
                    return Err(Error::validation(
                        "plan.steps.depends_on",
                        "must be a list of step ids",
                    ));
                }
            };
            parsed.push(PlanStep {
                id: text(step, "id")?,
                goal: text(step, "goal")?,
                tool: Tool::parse(&text(step, "tool")?)?,
                inputs: step.get("inputs").cloned().unwrap_or(Value::Null),
                acceptance: match step.get("acceptance") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(check)) => Some(check.clone()),
                    Some(_) => {
                        return Err(Error::validation(
                            "plan.steps.acceptance",
                            "must be a string",
                        ));
                    }
                },
                depends_on,
            });
        }
        let plan = Self { steps: parsed };
        plan.validate()?;
        Ok(plan)
    }

    /// Checks that the plan can be followed: 1 to [`MAX_STEPS`] steps with unique, well-formed
    /// ids and goals; dependencies on steps that exist, not on themselves, and no cycle; each
    /// tool's inputs well formed (paths inside the project, argv non-empty, http URLs).
    pub fn validate(&self) -> Result<()> {
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(Error::validation(
                "plan.steps",
                format!("needs 1 to {MAX_STEPS} steps"),
            ));
        }
        let mut ids = BTreeSet::new();
        for step in &self.steps {
            let well_formed = !step.id.is_empty()
                && step.id.chars().count() <= MAX_ID_CHARS
                && step
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !well_formed {
                return Err(Error::validation(
                    "plan.steps.id",
                    format!(
                        "{:?}: 1 to {MAX_ID_CHARS} letters, digits, '_' or '-'",
                        step.id
                    ),
                ));
            }
            if !ids.insert(step.id.as_str()) {
                return Err(Error::validation(
                    "plan.steps.id",
                    format!("{:?} names two steps", step.id),
                ));
            }
            if step.goal.trim().is_empty() {
                return Err(Error::validation(
                    "plan.steps.goal",
                    format!("step {:?} has no goal", step.id),
                ));
            }
            check_inputs(step)?;
        }
        for step in &self.steps {
            for dependency in &step.depends_on {
                if dependency == &step.id {
                    return Err(Error::validation(
                        "plan.steps.depends_on",
                        format!("step {:?} depends on itself", step.id),
                    ));
                }
                if !ids.contains(dependency.as_str()) {
                    return Err(Error::validation(
                        "plan.steps.depends_on",
                        format!(
                            "step {:?} depends on {dependency:?}, which is not a step",
                            step.id
                        ),
                    ));
                }
            }
        }
        if let Some(cycle) = self.cycle() {
            return Err(Error::validation(
                "plan.steps.depends_on",
                format!(
                    "the steps depend on each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
            ));
        }
        Ok(())
    }

    /// The steps in an order that respects every dependency, ties kept in the order written.
    /// Only meaningful for a plan that [`Plan::validate`]s.
    pub fn order(&self) -> Vec<&PlanStep> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut ordered = Vec::with_capacity(self.steps.len());
        while ordered.len() < self.steps.len() {
            let next = self.steps.iter().find(|s| {
                !done.contains(s.id.as_str())
                    && s.depends_on.iter().all(|d| done.contains(d.as_str()))
            });
            let Some(next) = next else { break };
            done.insert(next.id.as_str());
            ordered.push(next);
        }
        ordered
    }

    /// A cycle of dependencies, as the ids around it (the first repeated at the end).
    fn cycle(&self) -> Option<Vec<String>> {
        let edges: BTreeMap<&str, &[String]> = self
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.depends_on.as_slice()))
            .collect();
        // 0 unvisited, 1 on the current path, 2 finished.
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        let mut path: Vec<&str> = Vec::new();
        fn visit<'a>(
            id: &'a str,
            edges: &BTreeMap<&'a str, &'a [String]>,
            state: &mut BTreeMap<&'a str, u8>,
            path: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            match state.get(id).copied().unwrap_or(0) {
                2 => return None,
                1 => {
                    let from = path.iter().position(|p| *p == id).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[from..].iter().map(|p| (*p).to_owned()).collect();
                    cycle.push(id.to_owned());
                    return Some(cycle);
                }
                _ => {}
            }
            state.insert(id, 1);
            path.push(id);
            for next in edges.get(id).copied().unwrap_or_default() {
                if let Some(cycle) = visit(next, edges, state, path) {
                    return Some(cycle);
                }
            }
            path.pop();
            state.insert(id, 2);
            None
        }
        self.steps
            .iter()
            .find_map(|s| visit(s.id.as_str(), &edges, &mut state, &mut path))
    }
}

/// Checks a step's inputs against its tool.
fn check_inputs(step: &PlanStep) -> Result<()> {
    let bad = |message: String| {
        Error::validation(
            "plan.steps.inputs",
            format!("step {:?} ({}): {message}", step.id, step.tool.as_str()),
        )
    };
    let inputs = step
        .inputs
        .as_object()
        .ok_or_else(|| bad("the inputs must be an object".into()))?;
    let string = |key: &str| -> Result<&str> {
        inputs
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad(format!("needs a non-empty string `{key}`")))
    };
    match step.tool {
        Tool::WriteFile => {
            let path = string("path")?;
            if project_path(path).is_none() {
                return Err(bad(format!("{path:?} is not a path inside the project")));
            }
            let delete = inputs.get("delete").and_then(Value::as_bool) == Some(true);
            if !delete && !inputs.get("content").is_some_and(Value::is_string) {
                return Err(bad("needs `content` (a string), or `delete: true`".into()));
            }
        }
        Tool::RunTests | Tool::TddRepair => {
            string("command")?;
        }
        Tool::Command => {
            let argv = inputs
                .get("argv")
                .and_then(Value::as_array)
                .filter(|argv| !argv.is_empty() && argv.iter().all(Value::is_string))
                .ok_or_else(|| bad("needs `argv`, a non-empty list of strings".into()))?;
            if argv[0].as_str().is_some_and(|p| p.trim().is_empty()) {
                return Err(bad("the program is blank".into()));
            }
        }
        Tool::Http => {
            let method = string("method")?;
            if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method) {
                return Err(bad(format!("{method:?} is not an HTTP method")));
            }
            let url = string("url")?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(format!("{url:?} is not an http(s) URL")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, tool: &str, inputs: &Value, depends_on: &[&str]) -> Value {
        json!({"id": id, "goal": format!("do {id}"), "tool": tool, "inputs": inputs, "depends_on": depends_on})
    }

    fn write(id: &str, depends_on: &[&str]) -> Value {
        step(
            id,
            "write_file",
            &json!({"path": format!("src/{id}.py"), "content": "x = 1\n"}),
            depends_on,
        )
    }

    fn refused(plan: &Value, field: &str, says: &str) {
        match Plan::parse(plan) {
            Err(Error::Validation { field: f, message }) => {
                assert_eq!(f, field, "{message}");
                assert!(message.contains(says), "{message}");
            }
            other => panic!("{plan} was not refused: {other:?}"),
        }
    }

    #[test]
    fn a_valid_plan_is_ordered_by_its_dependencies() {
        let plan = Plan::parse(&json!({"steps": [
            step("test", "run_tests", &json!({"command": "pytest -q"}), &["model", "api"]),
            write("api", &["model"]),
            write("model", &[]),
            step("fetch", "http", &json!({"method": "GET", "url": "https://example.com"}), &[]),
        ]}))
        .unwrap();
        let order: Vec<&str> = plan.order().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(order, ["model", "api", "test", "fetch"]);
        assert_eq!(plan.steps[0].acceptance, None);
    }

    #[test]
    fn plans_that_cannot_be_followed_are_refused() {
        refused(
            &json!({"steps": [write("a", &["c"]), write("b", &["a"]), write("c", &["b"])]}),
            "plan.steps.depends_on",
            "cycle: a -> c -> b -> a",
        );
        refused(
            &json!({"steps": [write("a", &["a"])]}),
            "plan.steps.depends_on",
            "itself",
        );
        refused(
            &json!({"steps": [write("a", &["z"])]}),
            "plan.steps.depends_on",
            "not a step",
        );
        refused(
            &json!({"steps": [step("a", "rm_rf", &json!({}), &[])]}),
            "plan.steps.tool",
            "unknown tool \"rm_rf\"",
        );
        refused(&json!({"steps": []}), "plan.steps", "1 to 50");
        let many: Vec<Value> = (0..51).map(|i| write(&format!("s{i}"), &[])).collect();
        refused(&json!({ "steps": many }), "plan.steps", "1 to 50");
        refused(
            &json!({"steps": [write("a", &[]), write("a", &[])]}),
            "plan.steps.id",
            "two steps",
        );
        refused(
            &json!({"steps": [write("a b", &[])]}),
            "plan.steps.id",
            "letters",
        );
        refused(
            &json!({"steps": [step("a", "write_file", &json!({"path": "../etc/passwd", "content": ""}), &[])]}),
            "plan.steps.inputs",
            "not a path inside",
        );
        refused(
            &json!({"steps": [step("a", "command", &json!({"argv": []}), &[])]}),
            "plan.steps.inputs",
            "argv",
        );
        refused(
            &json!({"steps": [step("a", "http", &json!({"method": "GET", "url": "file:///etc"}), &[])]}),
            "plan.steps.inputs",
            "not an http(s) URL",
        );
        refused(&json!({"plan": []}), "plan.steps", "list of steps");
        refused(
            &json!({"steps": [{"id": "a", "goal": "g", "tool": "run_tests", "inputs": {"command": "pytest"}, "depends_on": "b"}]}),
            "plan.steps.depends_on",
            "list",
        );
    }
}
