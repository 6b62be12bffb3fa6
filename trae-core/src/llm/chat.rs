//! A chat with a language model: the request, the answer, the pieces a streamed answer
//! arrives in, and the [`ChatModel`] port the agents call. The shapes follow the OpenAI
//! chat-completions API (what OpenAI, Ollama, llama.cpp, vLLM and OpenRouter speak) without
//! any HTTP in them.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::budget::RunBudget;
use crate::{Error, Result};

/// The most `stop` sequences a request may carry (the OpenAI limit).
pub const MAX_STOP: usize = 4;

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person (or agent) asking.
    User,
    /// The model.
    Assistant,
    /// The result of a tool the model called.
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who says it.
    pub role: Role,
    /// Its text (an assistant message that only calls tools has none).
    #[serde(default)]
    pub content: Option<String>,
    /// The tools an assistant message calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    fn said(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::said(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::said(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::said(Role::Assistant, content)
    }

    /// The result of tool call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(call_id.into()),
            ..Self::said(Role::Tool, content)
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Its name: 1 to 64 letters, digits, `_` or `-`.
    pub name: String,
    /// What it does, for the model.
    #[serde(default)]
    pub description: Option<String>,
    /// The JSON Schema of its arguments.
    pub parameters: Value,
}

/// A call of a tool, as the model made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The id a tool message answering it names.
    pub id: String,
    /// The tool called.
    pub name: String,
    /// Its arguments: JSON text as the model wrote it (it may not parse).
    pub arguments: String,
}

impl ToolCall {
    /// The arguments as JSON; a validation error on `tool_calls.arguments` when the model
    /// wrote something else.
    pub fn arguments_json(&self) -> Result<Value> {
        serde_json::from_str(&self.arguments).map_err(|e| {
            Error::validation(
                "tool_calls.arguments",
                format!("the model's arguments for {} are not JSON: {e}", self.name),
            )
        })
    }
}

/// The shape an answer must take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against `schema`.
    JsonSchema {
        /// A name for the schema (providers require one).
        name: String,
        /// The JSON Schema the answer must satisfy.
        schema: Value,
    },
}

/// A request for one answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model; the endpoint's default when `None`.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature, 0 to 2.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// The most tokens of the answer.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Sequences that end the answer (at most [`MAX_STOP`]).
    #[serde(default)]
    pub stop: Vec<String>,
    /// A seed, for providers that sample reproducibly.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The shape of the answer.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// The tools the model may call.
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// An author persona whose rendered prompt becomes the system message.
    #[serde(default)]
    pub persona: Option<Uuid>,
}

impl ChatRequest {
    /// A request of `messages` to the endpoint's default model.
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }

    /// Checks the rules every provider shares; a validation error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.messages.is_empty() {
            return Err(Error::validation("messages", "at least one message"));
        }
        for (i, message) in self.messages.iter().enumerate() {
            let field = |name: &str| format!("messages[{i}].{name}");
            match message.role {
                Role::Tool if message.tool_call_id.is_none() => {
                    return Err(Error::validation(
                        field("tool_call_id"),
                        "a tool message names the call it answers",
                    ));
                }
                Role::Assistant => {}
                _ if !message.tool_calls.is_empty() => {
                    return Err(Error::validation(
                        field("tool_calls"),
                        "only an assistant message calls tools",
                    ));
                }
                _ if message.content.is_none() => {
                    return Err(Error::validation(field("content"), "must not be null"));
                }
                _ => {}
            }
            if message.role == Role::Assistant
                && message.content.is_none()
                && message.tool_calls.is_empty()
            {
                return Err(Error::validation(
                    field("content"),
                    "an assistant message says something or calls a tool",
                ));
            }
        }
        if let Some(model) = &self.model
            && model.trim().is_empty()
        {
            return Err(Error::validation("model", "must not be blank"));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(Error::validation("temperature", "must be between 0 and 2"));
        }
        if self.max_tokens == Some(0) {
            return Err(Error::validation("max_tokens", "must be at least 1"));
        }
        if self.stop.len() > MAX_STOP {
            return Err(Error::validation(
                "stop",
                format!("at most {MAX_STOP} sequences"),
            ));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::validation("stop", "sequences must not be empty"));
        }
        if let Some(ResponseFormat::JsonSchema { name, schema }) = &self.response_format {
            if !valid_name(name) {
                return Err(Error::validation(
                    "response_format.name",
                    "1 to 64 letters, digits, '_' or '-'",
                ));
            }
            if !schema.is_object() {
                return Err(Error::validation(
                    "response_format.schema",
                    "must be a JSON Schema object",
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, tool) in self.tools.iter().enumerate() {
            if !valid_name(&tool.name) {
                return Err(Error::validation(
                    format!("tools[{i}].name"),
                    "1 to 64 letters, digits, '_' or '-'",
                ));
            }
            if !names.insert(tool.name.as_str()) {
                return Err(Error::validation(
                    format!("tools[{i}].name"),
                    format!("{} is named twice", tool.name),
                ));
            }
            if !tool.parameters.is_object() {
                return Err(Error::validation(
                    format!("tools[{i}].parameters"),
                    "must be a JSON Schema object",
                ));
            }
        }
        Ok(())
    }
}

/// A tool or schema name as providers accept it.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why an answer ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished, or met a stop sequence.
    Stop,
    /// The token cap cut it.
    Length,
    /// The model called tools and waits for their results.
    ToolCalls,
    /// The provider withheld it.
    ContentFilter,
    /// The stream ended without saying why (a provider that closed early).
    Unknown,
}

impl FinishReason {
    /// The reason a provider names (`stop`, `length`, `tool_calls`, `function_call`,
    /// `content_filter`); [`FinishReason::Unknown`] for anything else.
    pub fn from_wire(reason: &str) -> Self {
        match reason {
            "stop" | "eos" => Self::Stop,
            "length" => Self::Length,
            "tool_calls" | "function_call" => Self::ToolCalls,
            "content_filter" => Self::ContentFilter,
            _ => Self::Unknown,
        }
    }
}

/// Tokens a call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the request.
    pub prompt_tokens: u32,
    /// Tokens of the answer.
    pub completion_tokens: u32,
}

impl Usage {
    /// Both together.
    pub fn total(&self) -> u64 {
        u64::from(self.prompt_tokens) + u64::from(self.completion_tokens)
    }
}

/// What a model costs, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Per million tokens of the request.
    pub input_per_million: f64,
    /// Per million tokens of the answer.
    pub output_per_million: f64,
}

impl ModelPrice {
    /// The cost of `usage`, in dollars.
    pub fn cost(&self, usage: &Usage) -> f64 {
        self.tokens_cost(usage.prompt_tokens, usage.completion_tokens)
    }

    /// The cost of `prompt` request tokens and `completion` answer tokens, in dollars.
    pub fn tokens_cost(&self, prompt: u32, completion: u32) -> f64 {
        (f64::from(prompt) * self.input_per_million
            + f64::from(completion) * self.output_per_million)
            / 1_000_000.0
    }
}

/// A model's whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The model that answered.
    pub model: String,
    /// The registry endpoint that answered.
    pub endpoint: String,
    /// Its text, if it wrote any.
    pub content: Option<String>,
    /// The tools it called.
    pub tool_calls: Vec<ToolCall>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens used.
    pub usage: Usage,
    /// Whether the provider reported `usage` (else it is estimated from the text).
    pub usage_reported: bool,
    /// What it cost, in dollars (0 where the endpoint has no price).
    pub cost: f64,
    /// From the request to the end of the answer.
    pub latency: Duration,
    /// The request offered tools and the model called none (reported, never retried).
    pub tools_ignored: bool,
    /// The answer as JSON, when the request asked for a JSON schema (checked against it).
    pub json: Option<Value>,
    /// How many repair rounds the answer took to fit its schema (0 or 1).
    pub repairs: u32,
}

/// A piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatChunk {
    /// Text, as it arrives.
    Content(String),
    /// Part of tool call number `index`: its id and name arrive first, its arguments in
    /// pieces.
    ToolCall {
        /// Which call of the answer.
        index: u32,
        /// The call's id (in its first piece).
        id: Option<String>,
        /// The tool's name (in its first piece).
        name: Option<String>,
        /// More of its arguments.
        arguments: String,
    },
    /// The end: the whole answer, assembled.
    Done(Box<ChatResponse>),
}

/// A streamed answer. Dropping it stops reading and closes the connection to the provider.
#[async_trait]
pub trait ChatStream: Send {
    /// The next piece; `None` after [`ChatChunk::Done`].
    async fn next(&mut self) -> Result<Option<ChatChunk>>;
}

/// A language model, as the agents see it: whichever endpoint answers, under the run's
/// budget.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The whole answer to `request`.
    async fn chat(&self, request: ChatRequest, budget: &RunBudget) -> Result<ChatResponse>;

    /// The answer to `request` as it is written.
    async fn stream(&self, request: ChatRequest, budget: &RunBudget)
    -> Result<Box<dyn ChatStream>>;
}

/// Builds the whole answer from the pieces of a stream.
#[derive(Debug, Default)]
pub struct AnswerAssembler {
    content: Option<String>,
    calls: BTreeMap<u32, ToolCall>,
}

impl AnswerAssembler {
    /// Adds a piece ([`ChatChunk::Done`] adds nothing).
    pub fn add(&mut self, chunk: &ChatChunk) {
        match chunk {
            ChatChunk::Content(text) => self.content.get_or_insert_default().push_str(text),
            ChatChunk::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                let call = self.calls.entry(*index).or_insert_with(|| ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                if let Some(id) = id {
                    call.id.clone_from(id);
                }
                if let Some(name) = name {
                    call.name.push_str(name);
                }
                call.arguments.push_str(arguments);
            }
            ChatChunk::Done(_) => {}
        }
    }

    /// The text so far.
    pub fn content(&self) -> Option<&str> {
        self.content.as_deref()
    }

    /// The text and the tool calls, in the order of their index.
    pub fn finish(self) -> (Option<String>, Vec<ToolCall>) {
        (self.content, self.calls.into_values().collect())
    }
}

/// A rough upper estimate of the tokens `messages` take (about one per three bytes, plus each
/// message's framing), for budgets before a provider has counted.
pub fn estimate_tokens(messages: &[ChatMessage]) -> u32 {
    let bytes: usize = messages
        .iter()
        .map(|m| {
            m.content.as_deref().map_or(0, str::len)
                + m.tool_calls
                    .iter()
                    .map(|c| c.name.len() + c.arguments.len())
                    .sum::<usize>()
        })
        .sum();
    let framing = messages.len() * 4 + 3;
    u32::try_from(bytes.div_ceil(3) + framing).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(err: Error) -> String {
        match err {
            Error::Validation { field, .. } => field,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_request_breaking_a_rule_names_the_field() {
        let ok = ChatRequest::new(vec![ChatMessage::user("hi")]);
        assert!(ok.validate().is_ok());
        let cases: Vec<(ChatRequest, &str)> = vec![
            (ChatRequest::default(), "messages"),
            (
                ChatRequest {
                    temperature: Some(2.5),
                    ..ok.clone()
                },
                "temperature",
            ),
            (
                ChatRequest {
                    max_tokens: Some(0),
                    ..ok.clone()
                },
                "max_tokens",
            ),
            (
                ChatRequest {
                    model: Some("  ".into()),
                    ..ok.clone()
                },
                "model",
            ),
            (
                ChatRequest {
                    stop: vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into()],
                    ..ok.clone()
                },
                "stop",
            ),
            (
                ChatRequest::new(vec![ChatMessage {
                    tool_call_id: None,
                    ..ChatMessage::tool_result("x", "42")
                }]),
                "messages[0].tool_call_id",
            ),
            (
                ChatRequest::new(vec![
                    ChatMessage::user("hi"),
                    ChatMessage {
                        content: None,
                        ..ChatMessage::assistant("")
                    },
                ]),
                "messages[1].content",
            ),
            (
                ChatRequest {
                    tools: vec![ToolSpec {
                        name: "run tests".into(),
                        description: None,
                        parameters: json!({"type": "object"}),
                    }],
                    ..ok.clone()
                },
                "tools[0].name",
            ),
            (
                ChatRequest {
                    tools: vec![
                        ToolSpec {
                            name: "read".into(),
                            description: None,
                            parameters: json!({"type": "object"}),
                        };
                        2
                    ],
                    ..ok.clone()
                },
                "tools[1].name",
            ),
            (
                ChatRequest {
                    response_format: Some(ResponseFormat::JsonSchema {
                        name: "plan".into(),
                        schema: json!("object"),
                    }),
                    ..ok
                },
                "response_format.schema",
            ),
        ];
        for (request, field) in cases {
            assert_eq!(field_of(request.validate().unwrap_err()), field);
        }
    }

    #[test]
    fn streamed_pieces_assemble_into_the_answer() {
        let mut answer = AnswerAssembler::default();
        for chunk in [
            ChatChunk::Content("Hel".into()),
            ChatChunk::ToolCall {
                index: 1,
                id: Some("b".into()),
                name: Some("write".into()),
                arguments: "{\"pa".into(),
            },
            ChatChunk::Content("lo".into()),
            ChatChunk::ToolCall {
                index: 0,
                id: Some("a".into()),
                name: Some("read".into()),
                arguments: "{}".into(),
            },
            ChatChunk::ToolCall {
                index: 1,
                id: None,
                name: None,
                arguments: "th\":1}".into(),
            },
        ] {
            answer.add(&chunk);
        }
        assert_eq!(answer.content(), Some("Hello"));
        let (content, calls) = answer.finish();
        assert_eq!(content.as_deref(), Some("Hello"));
        let names: Vec<_> = calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(names, [("a", "read"), ("b", "write")]);
        assert_eq!(calls[1].arguments_json().unwrap(), json!({"path": 1}));
        let broken = ToolCall {
            arguments: "{\"path\":".into(),
            ..calls[1].clone()
        };
        assert_eq!(
            field_of(broken.arguments_json().unwrap_err()),
            "tool_calls.arguments"
        );
    }

    #[test]
    fn finish_reasons_and_prices_read_as_providers_write_them() {
        assert_eq!(
            FinishReason::from_wire("tool_calls"),
            FinishReason::ToolCalls
        );
        assert_eq!(
            FinishReason::from_wire("function_call"),
            FinishReason::ToolCalls
        );
        assert_eq!(FinishReason::from_wire("length"), FinishReason::Length);
        assert_eq!(FinishReason::from_wire("whatever"), FinishReason::Unknown);
        let price = ModelPrice {
            input_per_million: 0.15,
            output_per_million: 0.60,
        };
        let usage = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 500,
        };
        assert!((price.cost(&usage) - 0.00045).abs() < 1e-12);
        assert_eq!(usage.total(), 1_500);
    }

    #[test]
    fn the_token_estimate_grows_with_the_text_and_the_messages() {
        let one = estimate_tokens(&[ChatMessage::user("x".repeat(300))]);
        assert_eq!(one, 100 + 4 + 3);
        let two = estimate_tokens(&[ChatMessage::system(""), ChatMessage::user("x".repeat(300))]);
        assert_eq!(two, one + 4);
    }

    #[test]
    fn messages_serialise_with_lowercase_roles_leaving_out_empty_parts() {
        let call = ChatMessage {
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "read".into(),
                arguments: "{}".into(),
            }],
            content: None,
            ..ChatMessage::assistant("")
        };
        assert_eq!(
            serde_json::to_value(ChatMessage::tool_result("c1", "ok")).unwrap(),
            json!({"role": "tool", "content": "ok", "tool_call_id": "c1"})
        );
        assert_eq!(
            serde_json::to_value(&call).unwrap()["role"],
            json!("assistant")
        );
        let format: ResponseFormat =
            serde_json::from_value(json!({"type": "json_schema", "name": "n", "schema": {}}))
                .unwrap();
        assert!(matches!(format, ResponseFormat::JsonSchema { .. }));
    }
}
