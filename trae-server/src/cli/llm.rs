//! `trae llm chat` and `trae llm models`: language models from the terminal, as the operator,
//! through the same gateway as the HTTP API (registry routing, limits, failover, usage log).

use std::io::Read as _;

use anyhow::Context;
use serde_json::{Value, json};
use trae_agents::Trae;
use trae_agents::llm::openai;
use trae_core::{ChatChunk, ChatStream as _, Config, PageRequest, Principal, RunBudget};

use crate::write_stdout;

/// What `trae llm chat` was asked for.
pub(crate) struct Chat {
    /// The prompt; read from stdin when `None` or `-`.
    pub prompt: Option<String>,
    /// A system message put first.
    pub system: Option<String>,
    /// The model; the endpoint's default when `None`.
    pub model: Option<String>,
    /// The most tokens of the answer.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// A JSON Schema file the answer must satisfy.
    pub schema: Option<std::path::PathBuf>,
    /// An author persona (its id) whose rendered prompt becomes the system message.
    pub persona: Option<String>,
    /// Print the whole answer as JSON at the end instead of streaming its text.
    pub json: bool,
}

/// Sends one chat and prints the answer as it is written (or, with `--json`, whole).
pub(crate) async fn chat(config: &Config, chat: Chat) -> anyhow::Result<()> {
    let request = request(&chat)?;
    let trae = Trae::open(config.clone())
        .await
        .context("cannot open the database")?;
    let result = answer(&trae, request, chat.json).await;
    trae.close().await;
    result
}

/// `trae llm models`: the `llm.chat` endpoints, one line each (or JSON).
pub(crate) async fn models(config: &Config, json: bool) -> anyhow::Result<()> {
    let trae = Trae::open(config.clone())
        .await
        .context("cannot open the database")?;
    let listed = trae
        .models()
        .models(&Principal::System, PageRequest::new(Some(500), None)?)
        .await;
    trae.close().await;
    let listed = listed?;
    if json {
        write_stdout(&format!("{}\n", serde_json::to_string(&listed.items)?))?;
        return Ok(());
    }
    if listed.items.is_empty() {
        eprintln!(
            "no endpoint has the capability llm.chat: register one (docs/llm.md, POST /api/apis)"
        );
    }
    for m in listed.items {
        let models = if m.models.is_empty() {
            "any model".to_owned()
        } else {
            m.models.join(", ")
        };
        write_stdout(&format!(
            "{}  default={}  serves={}  window={}  health={}{}\n",
            m.endpoint,
            m.default_model.as_deref().unwrap_or("-"),
            models,
            m.context_window
                .map_or_else(|| "-".to_owned(), |w| w.to_string()),
            m.health.as_str(),
            if m.is_active { "" } else { "  (inactive)" },
        ))?;
    }
    Ok(())
}

/// The request `chat` describes, in the OpenAI shape the gateway reads.
fn request(chat: &Chat) -> anyhow::Result<trae_core::ChatRequest> {
    let prompt = match chat.prompt.as_deref() {
        Some(p) if p != "-" => p.to_owned(),
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the prompt from stdin")?;
            text
        }
    };
    let mut messages = Vec::new();
    if let Some(system) = &chat.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": prompt}));
    let mut wire = json!({"messages": messages});
    if let Some(model) = &chat.model {
        wire["model"] = json!(model);
    }
    if let Some(n) = chat.max_tokens {
        wire["max_tokens"] = json!(n);
    }
    if let Some(t) = chat.temperature {
        wire["temperature"] = json!(t);
    }
    if let Some(persona) = &chat.persona {
        wire["persona_id"] = json!(persona);
    }
    if let Some(path) = &chat.schema {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the schema {}", path.display()))?;
        let schema: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        wire["response_format"] =
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}});
    }
    Ok(openai::request_from_wire(&wire)?)
}

async fn answer(trae: &Trae, request: trae_core::ChatRequest, json: bool) -> anyhow::Result<()> {
    let budget = RunBudget::unlimited(trae.store().clock());
    if json {
        let response = trae
            .models()
            .chat(&Principal::System, request, &budget)
            .await?;
        write_stdout(&format!("{}\n", serde_json::to_string(&response)?))?;
        return Ok(());
    }
    let mut stream = trae
        .models()
        .stream(&Principal::System, request, &budget)
        .await?;
    loop {
        tokio::select! {
            () = trae_server::serve::shutdown_signal() => return Ok(()),
            next = stream.next() => match next? {
                Some(ChatChunk::Content(text)) => write_stdout(&text)?,
                Some(ChatChunk::ToolCall { .. }) => {}
                Some(ChatChunk::Done(r)) => {
                    for call in &r.tool_calls {
                        write_stdout(&format!("\n[tool call {} {}({})]", call.id, call.name, call.arguments))?;
                    }
                    write_stdout("\n")?;
                    eprintln!(
                        "{} on {}: {} + {} tokens{}, ${:.6}, {:.1} s, {}",
                        r.model,
                        r.endpoint,
                        r.usage.prompt_tokens,
                        r.usage.completion_tokens,
                        if r.usage_reported { "" } else { " (estimated)" },
                        r.cost,
                        r.latency.as_secs_f64(),
                        openai::finish_reason_wire(&r.finish_reason),
                    );
                }
                None => return Ok(()),
            },
        }
    }
}
