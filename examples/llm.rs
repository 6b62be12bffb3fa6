//! Language models through trae: register a provider, chat, stream, ask for JSON against a
//! schema, and spend from a budget. It runs against a scripted OpenAI-compatible server on
//! 127.0.0.1 (trae's test double), so it needs no network and no key:
//!
//! ```sh
//! cargo run -p trae-agents --features testing --example llm
//! ```
//!
//! Against a real provider, register its endpoint instead (docs/llm.md) and drop the script.

// An example prints what it shows.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;

use serde_json::json;
use trae_agents::Trae;
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_core::{
    ApiEndpointSpec, BudgetLimits, ChatChunk, ChatMessage, ChatRequest, ChatStream as _, Config,
    Principal, RequestMeta, ResponseFormat, RunBudget,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let env: HashMap<&str, String> = HashMap::from([
        ("TRAE_DATA_DIR", dir.path().display().to_string()),
        // The provider below listens on loopback.
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true".to_owned()),
    ]);
    let trae = Trae::open(Config::from_sources(|k| env.get(k).cloned())?).await?;

    // A provider: an API-registry endpoint of capability llm.chat, its models and prices in
    // its metadata.
    let provider = ScriptedLlm::start().await?;
    let mut spec = ApiEndpointSpec::new("local", "llm.chat", provider.base_url());
    spec.metadata = json!({"models": ["smollm2"], "context_window": 2048,
                           "input_price_per_million": 0.1, "output_price_per_million": 0.4});
    trae.apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await?;

    let models = trae.models();
    let budget = RunBudget::new(
        BudgetLimits {
            tokens: Some(10_000),
            cost: Some(0.01),
            ..BudgetLimits::default()
        },
        trae.store().clock(),
    );
    let me = Principal::System;

    provider.push(Reply::text("The Nile, the Amazon and the Yangtze."));
    let answer = models
        .chat(
            &me,
            ChatRequest::new(vec![ChatMessage::user("Name three rivers.")]),
            &budget,
        )
        .await?;
    println!(
        "{} (from {} on {}: {} tokens, ${:.8})",
        answer.content.as_deref().unwrap_or_default(),
        answer.model,
        answer.endpoint,
        answer.usage.total(),
        answer.cost
    );

    provider.push(Reply::text("one two three four five"));
    let mut stream = models
        .stream(
            &me,
            ChatRequest::new(vec![ChatMessage::user("Count to five.")]),
            &budget,
        )
        .await?;
    print!("streamed:");
    while let Some(piece) = stream.next().await? {
        match piece {
            ChatChunk::Content(text) => print!(" [{text}]"),
            ChatChunk::Done(r) => println!(" ({:?})", r.finish_reason),
            ChatChunk::ToolCall { .. } => {}
        }
    }

    // A structured answer: the first one misses the schema, the repair round fixes it.
    provider.push(Reply::text(r#"{"steps": "all at once"}"#));
    provider.push(Reply::text(r#"{"steps": ["draft", "review", "ship"]}"#));
    let plan = models
        .chat(
            &me,
            ChatRequest {
                response_format: Some(ResponseFormat::JsonSchema {
                    name: "plan".into(),
                    schema: json!({"type": "object", "required": ["steps"],
                                   "properties": {"steps": {"type": "array",
                                                            "items": {"type": "string"}}}}),
                }),
                ..ChatRequest::new(vec![ChatMessage::user("Plan a release.")])
            },
            &budget,
        )
        .await?;
    println!(
        "plan: {} after {} repair round(s)",
        plan.json.unwrap_or_default(),
        plan.repairs
    );

    let spent = budget.spent();
    println!(
        "budget spent: {} calls, {} tokens, ${:.8}",
        spent.calls, spent.tokens, spent.cost
    );
    trae.close().await;
    Ok(())
}
