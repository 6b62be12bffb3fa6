//! The model's side of a genesis interview: shown the idea, the conversation and the template
//! questions still open, it answers with structured output, `{"type": "question", ...}` or
//! `{"type": "spec", ...}`, checked against a JSON schema (by the gateway, with its one repair
//! round) and then against the spec's own rules. An answer that fails twice is given up on, so
//! the caller can let the templates stand in.

use std::fmt::Write as _;

use serde_json::{Value, json};
use trae_core::llm::budget::RunBudget;
use trae_core::llm::chat::{ChatMessage, ChatModel, ChatRequest, ResponseFormat};
use trae_core::solo::interview::{Interview, check_question};
use trae_core::solo::spec::Spec;
use trae_core::solo::templates::TemplateQuestion;

/// The system prompt of the interviewer.
pub const SYSTEM_PROMPT: &str = "You are a product analyst running the genesis interview of a new software project. Ask one short, concrete question at a time, building on the answers so far, until you know the project's goals, its users, its features each with at least one observable acceptance check, its constraints and what is out of scope. Then write the spec. Answer only with JSON: {\"type\": \"question\", \"question\": \"...\"} to ask, or {\"type\": \"spec\", \"spec\": {...}} to finish.";

/// What the model wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Ask this.
    Question(String),
    /// The interview is done: this is the spec.
    Spec(Spec),
}

/// The schema of one interviewer answer.
pub fn turn_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"enum": ["question", "spec"]},
            "question": {"type": "string"},
            "spec": Spec::json_schema(),
        },
    })
}

/// The user message: the idea, the conversation, the open template questions, and whether
/// the spec is due now.
pub fn prompt(interview: &Interview, open: &[TemplateQuestion], must_finish: bool) -> String {
    let mut out = format!(
        "Project type: {}\nIdea: {}\n\nThe interview so far:\n",
        interview.project_type.as_str(),
        interview.idea
    );
    for turn in &interview.turns {
        let _ = writeln!(out, "Q{}: {}", turn.index + 1, turn.question);
        let _ = writeln!(
            out,
            "A{}: {}",
            turn.index + 1,
            turn.answer.as_deref().unwrap_or("(not answered)")
        );
    }
    if !open.is_empty() {
        out.push_str("\nTopics the spec needs that no question has covered yet:\n");
        for question in open {
            let _ = writeln!(out, "- {} ({})", question.text, question.key);
        }
    }
    if must_finish {
        out.push_str("\nThe interview has reached its last question: write the spec now.\n");
    }
    out
}

/// Reads one answer: a non-blank question of a sane length, or a spec that validates.
pub fn read(value: &Value, must_finish: bool) -> Result<Next, String> {
    match value.get("type").and_then(Value::as_str) {
        Some("question") if must_finish => {
            Err("asked another question where the spec was due".into())
        }
        Some("question") => {
            let question = value
                .get("question")
                .and_then(Value::as_str)
                .unwrap_or_default();
            check_question(question)
                .map(Next::Question)
                .map_err(|e| format!("the question cannot be asked: {e}"))
        }
        Some("spec") => {
            let spec: Spec = serde_json::from_value(value.get("spec").cloned().unwrap_or_default())
                .map_err(|e| format!("the spec does not fit its schema: {e}"))?;
            spec.validate()
                .map_err(|e| format!("the spec is not valid: {e}"))?;
            Ok(Next::Spec(spec))
        }
        _ => Err("the answer is neither a question nor a spec".into()),
    }
}

/// Asks the model for the next turn, at most twice; `Err` says why it was given up on (no
/// model, a failed call, two answers that did not validate).
pub async fn ask(
    model: &dyn ChatModel,
    interview: &Interview,
    open: &[TemplateQuestion],
    must_finish: bool,
    budget: &RunBudget,
) -> Result<Next, String> {
    let mut messages = vec![
        ChatMessage::system(SYSTEM_PROMPT),
        ChatMessage::user(prompt(interview, open, must_finish)),
    ];
    let mut why = String::new();
    for _ in 0..2 {
        let mut request = ChatRequest::new(messages.clone());
        request.temperature = Some(0.0);
        request.max_tokens = Some(1_500);
        request.response_format = Some(ResponseFormat::JsonSchema {
            name: "interview_turn".into(),
            schema: turn_schema(),
        });
        let answer = model
            .chat(request, budget)
            .await
            .map_err(|e| e.to_string())?;
        let value = answer
            .json
            .clone()
            .or_else(|| serde_json::from_str(answer.content.as_deref().unwrap_or("")).ok())
            .unwrap_or(Value::Null);
        match read(&value, must_finish) {
            Ok(next) => return Ok(next),
            Err(reason) => {
                messages.push(ChatMessage::assistant(answer.content.unwrap_or_default()));
                messages.push(ChatMessage::user(format!(
                    "That answer cannot be used: {reason}. Answer again, with JSON only."
                )));
                why = reason;
            }
        }
    }
    Err(format!("the model's answers did not validate twice: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(
            read(
                &json!({"type": "question", "question": " Who uses it? "}),
                false
            ),
            Ok(Next::Question("Who uses it?".into()))
        );
        assert!(read(&json!({"type": "question", "question": "Who?"}), true).is_err());
        assert!(read(&json!({"type": "question", "question": "  "}), false).is_err());
        assert!(
            read(
                &json!({"type": "question", "question": "Who?\u{1b}[2J"}),
                false
            )
            .is_err()
        );
        assert!(
            read(
                &json!({"type": "spec", "spec": {"title": "x", "goals": [], "features": []}}),
                false
            )
            .unwrap_err()
            .contains("not valid")
        );
        let spec = json!({"type": "spec", "spec": {"title": "Todo", "goals": ["track"], "features": [{"name": "add", "acceptance": ["it adds"]}]}});
        assert!(matches!(read(&spec, true), Ok(Next::Spec(s)) if s.title == "Todo"));
        assert!(read(&json!({"type": "poem"}), false).is_err());
        assert!(read(&Value::Null, false).is_err());
    }
}
