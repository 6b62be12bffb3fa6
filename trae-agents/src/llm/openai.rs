//! The OpenAI chat-completions wire format: the request body trae sends, and the answers
//! (whole, or streamed as `chat.completion.chunk` events) it reads back. Readers are lenient
//! where providers differ (missing fields, `null`s, extra keys) and strict where a wrong
//! reading would cost money or tokens (a malformed chunk is an error, not silence).

use serde::Deserialize;
use serde_json::{Value, json};
use trae_core::{
    ChatChunk, ChatMessage, ChatRequest, FinishReason, ResponseFormat, Role, ToolCall, Usage,
};

/// The request body for `model`, answering in at most `max_tokens`; `stream` asks for
/// server-sent events with a final usage chunk. With `native_schema` false a JSON-schema
/// format goes into the instructions instead (see [`schema_instruction`]).
pub fn request_body(
    request: &ChatRequest,
    model: &str,
    max_tokens: Option<u32>,
    stream: bool,
    native_schema: bool,
) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(request.messages.len() + 1);
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &request.response_format
        && !native_schema
    {
        messages.push(json!({"role": "system", "content": schema_instruction(schema)}));
    }
    messages.extend(request.messages.iter().map(message));
    let mut fields = serde_json::Map::new();
    fields.insert("model".into(), json!(model));
    fields.insert("messages".into(), Value::Array(messages));
    if let Some(t) = request.temperature {
        fields.insert("temperature".into(), json!(t));
    }
    if let Some(n) = max_tokens {
        fields.insert("max_tokens".into(), json!(n));
    }
    if !request.stop.is_empty() {
        fields.insert("stop".into(), json!(request.stop));
    }
    if let Some(seed) = request.seed {
        fields.insert("seed".into(), json!(seed));
    }
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => {
            fields.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ResponseFormat::JsonSchema { name, schema }) if native_schema => {
            fields.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}}),
            );
        }
        _ => {}
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut function = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    function["description"] = json!(d);
                }
                json!({"type": "function", "function": function})
            })
            .collect();
        fields.insert("tools".into(), Value::Array(tools));
    }
    if stream {
        fields.insert("stream".into(), json!(true));
        fields.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(fields)
}

/// The instruction that stands in for `response_format` where a provider has no JSON-schema
/// mode.
pub fn schema_instruction(schema: &Value) -> String {
    format!(
        "Answer with one JSON value and nothing else (no prose, no code fence). It must \
         satisfy this JSON Schema:\n{schema}"
    )
}

fn message(m: &ChatMessage) -> Value {
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut out = json!({"role": role, "content": m.content});
    if !m.tool_calls.is_empty() {
        out["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect();
    }
    if let Some(id) = &m.tool_call_id {
        out["tool_call_id"] = json!(id);
    }
    out
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    delta: Option<WireMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct WireAnswer {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

/// A whole answer, as read from a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The model the provider says answered.
    pub model: Option<String>,
    /// The text.
    pub content: Option<String>,
    /// The tools called.
    pub tool_calls: Vec<ToolCall>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens, when reported.
    pub usage: Option<Usage>,
}

fn usage(u: Option<WireUsage>) -> Option<Usage> {
    u.map(|u| Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
    })
}

fn provider_error(error: &Value) -> String {
    serde_json::from_value::<WireError>(error.clone())
        .ok()
        .and_then(|e| e.message)
        .unwrap_or_else(|| error.to_string())
}

/// Reads a whole (not streamed) answer; the error says what was wrong with it.
pub fn parse_completion(body: &[u8]) -> Result<Completion, String> {
    let answer: WireAnswer = serde_json::from_slice(body)
        .map_err(|e| format!("the provider's answer is not a chat completion: {e}"))?;
    if let Some(error) = &answer.error {
        return Err(format!("the provider reported: {}", provider_error(error)));
    }
    let choice = answer
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "the provider's answer has no choices".to_owned())?;
    let message = choice
        .message
        .ok_or_else(|| "the provider's answer has no message".to_owned())?;
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let function = c.function.unwrap_or(WireFunction {
                name: None,
                arguments: None,
            });
            ToolCall {
                id: c.id.unwrap_or_else(|| format!("call_{i}")),
                name: function.name.unwrap_or_default(),
                arguments: function.arguments.unwrap_or_default(),
            }
        })
        .collect();
    Ok(Completion {
        model: answer.model,
        content: message.content,
        tool_calls,
        finish_reason: choice
            .finish_reason
            .as_deref()
            .map_or(FinishReason::Unknown, FinishReason::from_wire),
        usage: usage(answer.usage),
    })
}

/// What one streamed event carried.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    /// Pieces of the answer, in order ([`ChatChunk::Content`] and [`ChatChunk::ToolCall`]).
    pub chunks: Vec<ChatChunk>,
    /// The reason the answer ended, in its last content event.
    pub finish_reason: Option<FinishReason>,
    /// Tokens, in the usage event at the end.
    pub usage: Option<Usage>,
    /// The model, when named.
    pub model: Option<String>,
}

/// Reads one streamed event's data; `Ok(None)` for the closing `[DONE]`.
pub fn parse_delta(data: &str) -> Result<Option<Delta>, String> {
    if data.trim() == "[DONE]" {
        return Ok(None);
    }
    let answer: WireAnswer = serde_json::from_str(data)
        .map_err(|e| format!("the provider sent a chunk that is not JSON it speaks: {e}"))?;
    if let Some(error) = &answer.error {
        return Err(format!(
            "the provider reported mid-stream: {}",
            provider_error(error)
        ));
    }
    let mut delta = Delta {
        usage: usage(answer.usage),
        model: answer.model,
        ..Delta::default()
    };
    for choice in answer.choices {
        if let Some(reason) = choice.finish_reason.as_deref() {
            delta.finish_reason = Some(FinishReason::from_wire(reason));
        }
        let Some(message) = choice.delta.or(choice.message) else {
            continue;
        };
        if let Some(text) = message.content
            && !text.is_empty()
        {
            delta.chunks.push(ChatChunk::Content(text));
        }
        for (i, call) in message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let function = call.function.unwrap_or(WireFunction {
                name: None,
                arguments: None,
            });
            delta.chunks.push(ChatChunk::ToolCall {
                index: call.index.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX)),
                id: call.id,
                name: function.name,
                arguments: function.arguments.unwrap_or_default(),
            });
        }
    }
    Ok(Some(delta))
}

/// A chat request from its OpenAI JSON shape (as Python callers and the CLI give it):
/// `messages` (each `role`, `content`, `tool_calls` of `{id, type, function: {name,
/// arguments}}`, `tool_call_id`), `model`, `temperature`, `max_tokens`, `stop` (a string or
/// a list), `seed`, `response_format` (`{"type": "json_schema", "json_schema": {"name",
/// "schema"}}`, `json_object` or `text`), `tools` (`{type: "function", function: {name,
/// description, parameters}}`) and trae's `persona_id`. Other keys, wrong types and broken
/// rules are validation errors naming the field.
pub fn request_from_wire(value: &Value) -> trae_core::Result<ChatRequest> {
    use trae_core::Error;
    let fields = value
        .as_object()
        .ok_or_else(|| Error::validation("request", "must be a JSON object"))?;
    const KNOWN: [&str; 9] = [
        "model",
        "messages",
        "temperature",
        "max_tokens",
        "stop",
        "seed",
        "response_format",
        "tools",
        "persona_id",
    ];
    if let Some(unknown) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Error::validation(
            unknown.clone(),
            "is not a chat request field",
        ));
    }
    let text = |v: &Value, field: &str| -> trae_core::Result<String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::validation(field, "must be a string"))
    };
    let optional_text = |v: Option<&Value>, field: &str| -> trae_core::Result<Option<String>> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(v) => text(v, field).map(Some),
        }
    };
    let messages = match fields.get("messages") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, m)| message_from_wire(m, i))
            .collect::<trae_core::Result<Vec<_>>>()?,
        Some(_) => return Err(Error::validation("messages", "must be a list of messages")),
        None => return Err(Error::validation("messages", "is required")),
    };
    let temperature = match fields.get("temperature") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let t = v
                .as_f64()
                .ok_or_else(|| Error::validation("temperature", "must be a number"))?;
            #[allow(clippy::cast_possible_truncation)]
            Some(t as f32)
        }
    };
    let max_tokens = match fields.get("max_tokens") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| Error::validation("max_tokens", "must be a whole number"))?,
        ),
    };
    let stop = match fields.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| text(s, &format!("stop[{i}]")))
            .collect::<trae_core::Result<_>>()?,
        Some(_) => return Err(Error::validation("stop", "must be a string or a list")),
    };
    let seed = match fields.get("seed") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| Error::validation("seed", "must be a whole number"))?,
        ),
    };
    let response_format = match fields.get("response_format") {
        None | Some(Value::Null) => None,
        Some(f) => Some(format_from_wire(f)?),
    };
    let tools = match fields.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let field = |name: &str| format!("tools[{i}].{name}");
                let function = t
                    .get("function")
                    .filter(|f| f.is_object())
                    .ok_or_else(|| Error::validation(field("function"), "is required"))?;
                Ok(trae_core::ToolSpec {
                    name: text(
                        function.get("name").unwrap_or(&Value::Null),
                        &field("function.name"),
                    )?,
                    description: optional_text(
                        function.get("description"),
                        &field("function.description"),
                    )?,
                    parameters: function
                        .get("parameters")
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object"})),
                })
            })
            .collect::<trae_core::Result<_>>()?,
        Some(_) => return Err(Error::validation("tools", "must be a list of tools")),
    };
    let persona = match optional_text(fields.get("persona_id"), "persona_id")? {
        None => None,
        Some(id) => Some(
            id.parse::<uuid::Uuid>()
                .map_err(|_| Error::validation("persona_id", "must be a UUID"))?,
        ),
    };
    Ok(ChatRequest {
        model: optional_text(fields.get("model"), "model")?,
        messages,
        temperature,
        max_tokens,
        stop,
        seed,
        response_format,
        tools,
        persona,
    })
}

fn message_from_wire(m: &Value, i: usize) -> trae_core::Result<ChatMessage> {
    use trae_core::Error;
    let field = |name: &str| format!("messages[{i}].{name}");
    let Some(fields) = m.as_object() else {
        return Err(Error::validation(
            format!("messages[{i}]"),
            "must be an object with a role",
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["role", "content", "tool_calls", "tool_call_id", "name"].contains(&k.as_str()))
    {
        return Err(Error::validation(field(unknown), "is not a message field"));
    }
    let role = match fields.get("role").and_then(Value::as_str) {
        Some("system") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        _ => {
            return Err(Error::validation(
                field("role"),
                "must be system, user, assistant or tool",
            ));
        }
    };
    let content = match fields.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(Error::validation(field("content"), "must be a string")),
    };
    let tool_calls = match fields.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let at = |name: &str| format!("messages[{i}].tool_calls[{j}].{name}");
                let get = |v: Option<&Value>, name: &str| {
                    v.and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| Error::validation(at(name), "must be a string"))
                };
                let function = c.get("function");
                Ok(ToolCall {
                    id: get(c.get("id"), "id")?,
                    name: get(function.and_then(|f| f.get("name")), "function.name")?,
                    arguments: get(
                        function.and_then(|f| f.get("arguments")),
                        "function.arguments",
                    )?,
                })
            })
            .collect::<trae_core::Result<_>>()?,
        Some(_) => return Err(Error::validation(field("tool_calls"), "must be a list")),
    };
    let tool_call_id = match fields.get("tool_call_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(Error::validation(field("tool_call_id"), "must be a string")),
    };
    Ok(ChatMessage {
        role,
        content,
        tool_calls,
        tool_call_id,
    })
}

fn format_from_wire(f: &Value) -> trae_core::Result<ResponseFormat> {
    use trae_core::Error;
    match f.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let schema = f
                .get("json_schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    Error::validation(
                        "response_format.json_schema",
                        "gives the schema the answer must satisfy",
                    )
                })?;
            Ok(ResponseFormat::JsonSchema {
                name: schema
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("answer")
                    .to_owned(),
                schema: schema.get("schema").cloned().unwrap_or(Value::Null),
            })
        }
        _ => Err(Error::validation(
            "response_format.type",
            "must be text, json_object or json_schema",
        )),
    }
}

/// One piece of a streamed answer in the OpenAI `chat.completion.chunk` shape, for clients
/// of trae's own API: text and tool calls as deltas; the end as the finishing chunk with
/// `usage`, plus a `trae` object (endpoint, cost, whether usage was reported or estimated,
/// whether offered tools were ignored, the checked JSON).
pub fn chunk_json(id: &str, created: i64, model: &str, chunk: &ChatChunk) -> Value {
    let (delta, finish, extra) = match chunk {
        ChatChunk::Content(text) => (json!({"content": text}), Value::Null, None),
        ChatChunk::ToolCall {
            index,
            id,
            name,
            arguments,
        } => {
            let mut function = json!({"arguments": arguments});
            if let Some(name) = name {
                function["name"] = json!(name);
            }
            let mut call = json!({"index": index, "function": function});
            if let Some(id) = id {
                call["id"] = json!(id);
                call["type"] = json!("function");
            }
            (json!({"tool_calls": [call]}), Value::Null, None)
        }
        ChatChunk::Done(response) => (
            json!({}),
            json!(finish_reason_wire(&response.finish_reason)),
            Some(response),
        ),
    };
    let mut out = json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    if let Some(r) = extra {
        out["usage"] = json!({
            "prompt_tokens": r.usage.prompt_tokens,
            "completion_tokens": r.usage.completion_tokens,
            "total_tokens": r.usage.total(),
        });
        out["trae"] = json!({
            "endpoint": r.endpoint,
            "cost": r.cost,
            "usage_reported": r.usage_reported,
            "tools_ignored": r.tools_ignored,
            "json": r.json,
            "latency_ms": u64::try_from(r.latency.as_millis()).unwrap_or(u64::MAX),
        });
    }
    out
}

/// A finish reason as the OpenAI API spells it (`unknown` where the provider said none).
pub fn finish_reason_wire(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trae_core::ToolSpec;

    #[test]
    fn the_request_body_speaks_openai() {
        let request = ChatRequest {
            messages: vec![
                ChatMessage::system("be brief"),
                ChatMessage {
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "read".into(),
                        arguments: "{\"path\":\"a\"}".into(),
                    }],
                    content: None,
                    ..ChatMessage::assistant("")
                },
                ChatMessage::tool_result("c1", "text"),
            ],
            temperature: Some(0.0),
            stop: vec!["END".into()],
            seed: Some(7),
            tools: vec![ToolSpec {
                name: "read".into(),
                description: Some("reads a file".into()),
                parameters: json!({"type": "object"}),
            }],
            response_format: Some(ResponseFormat::JsonSchema {
                name: "plan".into(),
                schema: json!({"type": "object"}),
            }),
            ..ChatRequest::default()
        };
        let body = request_body(&request, "m", Some(64), true, true);
        assert_eq!(body["model"], "m");
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["seed"], 7);
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(
            body["messages"][1]["tool_calls"][0],
            json!({"id": "c1", "type": "function",
                   "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}})
        );
        assert_eq!(body["messages"][1]["content"], Value::Null);
        assert_eq!(body["messages"][2]["tool_call_id"], "c1");
        assert_eq!(body["tools"][0]["function"]["description"], "reads a file");
        assert_eq!(body["response_format"]["json_schema"]["name"], "plan");

        let instructed = request_body(&request, "m", None, false, false);
        assert!(instructed.get("response_format").is_none());
        assert!(instructed.get("stream").is_none());
        assert!(instructed.get("max_tokens").is_none());
        let first = instructed["messages"][0]["content"].as_str().unwrap();
        assert!(first.contains("JSON Schema"), "{first}");
        assert_eq!(instructed["messages"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn a_whole_answer_reads_with_its_tool_calls_and_usage() {
        let c = parse_completion(
            br#"{"id":"x","model":"m1","choices":[{"index":0,"message":{"role":"assistant",
            "content":null,"tool_calls":[{"id":"c9","type":"function","function":{"name":"read",
            "arguments":"{}"}}]},"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":11,"completion_tokens":3,"total_tokens":14}}"#,
        )
        .unwrap();
        assert_eq!(c.model.as_deref(), Some("m1"));
        assert_eq!(c.content, None);
        assert_eq!(c.tool_calls[0].id, "c9");
        assert_eq!(c.finish_reason, FinishReason::ToolCalls);
        assert_eq!(c.usage.unwrap().completion_tokens, 3);
        let bare = parse_completion(br#"{"choices":[{"message":{"content":"hi"}}]}"#).unwrap();
        assert_eq!(bare.usage, None);
        assert_eq!(bare.finish_reason, FinishReason::Unknown);
    }

    #[test]
    fn broken_answers_say_what_is_wrong() {
        assert!(
            parse_completion(b"<html>")
                .unwrap_err()
                .contains("not a chat")
        );
        assert!(
            parse_completion(br#"{"choices":[]}"#)
                .unwrap_err()
                .contains("no choices")
        );
        let e = parse_completion(br#"{"error":{"message":"model not found"}}"#).unwrap_err();
        assert!(e.contains("model not found"), "{e}");
        let e = parse_delta(r#"{"error":{"message":"overloaded"}}"#).unwrap_err();
        assert!(e.contains("overloaded"), "{e}");
        assert!(parse_delta("{\"choices\": 3}").is_err());
    }

    #[test]
    fn a_request_reads_from_its_openai_shape_naming_each_bad_field() {
        let r = request_from_wire(&json!({
            "model": "m", "temperature": 0.5, "max_tokens": 9, "stop": "END", "seed": 2,
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type":
                  "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "content": "1", "tool_call_id": "c"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "p",
                                "schema": {"type": "object"}}},
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "persona_id": "0190f5c2-1111-7000-8000-000000000000"
        }))
        .unwrap();
        assert_eq!(r.stop, ["END"]);
        assert_eq!(r.messages[1].tool_calls[0].name, "f");
        assert_eq!(r.messages[2].tool_call_id.as_deref(), Some("c"));
        assert_eq!(r.tools[0].parameters, json!({"type": "object"}));
        assert!(r.persona.is_some());
        let field = |v: Value| match request_from_wire(&v).unwrap_err() {
            trae_core::Error::Validation { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"messages": "hi"})), "messages");
        assert_eq!(field(json!({})), "messages");
        assert_eq!(field(json!({"messages": [], "n": 2})), "n");
        assert_eq!(
            field(json!({"messages": [{"role": "bot"}]})),
            "messages[0].role"
        );
        assert_eq!(
            field(json!({"messages": [{"role": "user", "content": 3}]})),
            "messages[0].content"
        );
        assert_eq!(
            field(json!({"messages": [], "temperature": "hot"})),
            "temperature"
        );
        assert_eq!(
            field(json!({"messages": [], "max_tokens": -1})),
            "max_tokens"
        );
        assert_eq!(field(json!({"messages": [], "stop": [1]})), "stop[0]");
        assert_eq!(
            field(json!({"messages": [], "response_format": {"type": "json_schema"}})),
            "response_format.json_schema"
        );
        assert_eq!(
            field(json!({"messages": [], "tools": [{}]})),
            "tools[0].function"
        );
        assert_eq!(
            field(json!({"messages": [], "persona_id": "x"})),
            "persona_id"
        );
    }

    #[test]
    fn stream_events_read_into_pieces() {
        assert_eq!(parse_delta("[DONE]").unwrap(), None);
        let d = parse_delta(r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#)
            .unwrap()
            .unwrap();
        assert!(d.chunks.is_empty(), "an empty role chunk carries nothing");
        let d = parse_delta(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"c","type":"function",
            "function":{"name":"w","arguments":"{\"a"}}]},"finish_reason":null}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            d.chunks,
            [ChatChunk::ToolCall {
                index: 1,
                id: Some("c".into()),
                name: Some("w".into()),
                arguments: "{\"a".into()
            }]
        );
        let end =
            parse_delta(r#"{"choices":[{"delta":{},"finish_reason":"length"}],"usage":null}"#)
                .unwrap()
                .unwrap();
        assert_eq!(end.finish_reason, Some(FinishReason::Length));
        let usage =
            parse_delta(r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#)
                .unwrap()
                .unwrap();
        assert_eq!(usage.usage.unwrap().total(), 7);
    }
}
