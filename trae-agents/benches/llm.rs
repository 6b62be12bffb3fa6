//! The model gateway's costs (issue 22), each against its baseline in the same run:
//!
//! - `llm_call`: a whole chat through `ModelGateway::chat` (registry, budget, request body,
//!   orchestrator, answer parsing, usage log on a real SQLite file) against a direct reqwest
//!   POST of the same body to the same scripted server (target: ≤ 1 ms more per call).
//! - `llm_first_token`: the time to the first content piece of a stream, through
//!   `ModelGateway::stream` against a direct reqwest stream read until its first `content`
//!   (target: ≤ 2 ms more).
//! - `sse_decode`: the event-stream decoder on a realistic OpenAI chunk stream in 16 KiB reads
//!   (target: ≥ 200 MB/s), and the same with each event's JSON parsed into pieces.

use std::collections::HashMap;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use trae_agents::Trae;
use trae_agents::llm::openai;
use trae_agents::llm::sse::SseDecoder;
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_core::{
    ApiEndpointSpec, ChatChunk, ChatMessage, ChatRequest, ChatStream as _, Config, Principal,
    RequestMeta, RunBudget,
};

const ANSWER: &str = "The quick brown fox jumps over the lazy dog, twice over.";
/// Replies queued at a time (each call takes one).
const QUEUED: usize = 256;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn refill(server: &ScriptedLlm) {
    for _ in 0..QUEUED {
        server.push(Reply::text(ANSWER));
    }
}

struct Setup {
    trae: Trae,
    server: ScriptedLlm,
    budget: RunBudget,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let env: HashMap<&str, String> = HashMap::from([
        (
            "TRAE_DATABASE_URL",
            format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
        ),
        ("TRAE_DATA_DIR", dir.path().display().to_string()),
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true".to_owned()),
        ("TRAE_LOG", "error".to_owned()),
    ]);
    let config = Config::from_sources(|k| env.get(k).cloned()).expect("config");
    let trae = Trae::open(config).await.expect("trae");
    let server = ScriptedLlm::start().await.expect("server");
    let mut spec = ApiEndpointSpec::new("local", "llm.chat", server.base_url());
    spec.metadata = json!({"default_model": "m", "context_window": 4096,
                           "input_price_per_million": 0.1, "output_price_per_million": 0.4});
    trae.apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await
        .expect("endpoint");
    let budget = RunBudget::unlimited(trae.store().clock());
    Setup {
        trae,
        server,
        budget,
        _dir: dir,
    }
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![
        ChatMessage::system("Answer in one sentence."),
        ChatMessage::user("Say something about a fox."),
    ])
}

fn calls(c: &mut Criterion) {
    let rt = runtime();
    let s = rt.block_on(setup());
    let direct = reqwest::Client::new();
    let url = format!("{}/chat/completions", s.server.base_url());
    let body = serde_json::to_vec(&openai::request_body(&request(), "m", None, false, true))
        .expect("body");
    let stream_body =
        serde_json::to_vec(&openai::request_body(&request(), "m", None, true, true)).expect("body");
    let mut sent = 0usize;
    let mut take = |server: &ScriptedLlm| {
        if sent.is_multiple_of(QUEUED) {
            refill(server);
        }
        sent += 1;
    };

    let mut group = c.benchmark_group("llm_call");
    group.bench_function("direct_reqwest", |b| {
        b.to_async(&rt).iter(|| {
            take(&s.server);
            let request = direct
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone());
            async move {
                let answer = request
                    .send()
                    .await
                    .expect("send")
                    .bytes()
                    .await
                    .expect("read");
                assert!(!answer.is_empty());
            }
        });
    });
    group.bench_function("gateway", |b| {
        b.to_async(&rt).iter(|| {
            take(&s.server);
            let models = s.trae.models();
            let budget = &s.budget;
            async move {
                let answer = models
                    .chat(&Principal::System, request(), budget)
                    .await
                    .expect("chat");
                assert_eq!(answer.content.as_deref(), Some(ANSWER));
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group("llm_first_token");
    group.bench_function("direct_reqwest", |b| {
        b.to_async(&rt).iter(|| {
            take(&s.server);
            let request = direct
                .post(&url)
                .header("content-type", "application/json")
                .body(stream_body.clone());
            async move {
                let mut response = request.send().await.expect("send");
                let mut seen = Vec::new();
                while let Some(chunk) = response.chunk().await.expect("read") {
                    seen.extend_from_slice(&chunk);
                    if memchr::memmem::find(&seen, b"\"content\":\"The").is_some() {
                        break;
                    }
                }
            }
        });
    });
    group.bench_function("gateway", |b| {
        b.to_async(&rt).iter(|| {
            take(&s.server);
            let models = s.trae.models();
            let budget = &s.budget;
            async move {
                let mut stream = models
                    .stream(&Principal::System, request(), budget)
                    .await
                    .expect("stream");
                loop {
                    match stream.next().await.expect("piece") {
                        Some(ChatChunk::Content(_)) => break,
                        Some(_) => {}
                        None => panic!("no content"),
                    }
                }
            }
        });
    });
    group.finish();
    rt.block_on(s.trae.close());
}

/// About 8 MB of streamed chunks as OpenAI writes them (one short content piece each).
fn stream_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0u64;
    while out.len() < 8 * 1024 * 1024 {
        let chunk = json!({"id": "chatcmpl-9xAbCdEfGh", "object": "chat.completion.chunk",
            "created": 1_733_500_000, "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_0ba0d124f1",
            "choices": [{"index": 0, "delta": {"content": format!(" word{i}")},
                         "logprobs": null, "finish_reason": null}]});
        out.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
        i += 1;
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

fn sse(c: &mut Criterion) {
    let bytes = stream_bytes();
    let mut group = c.benchmark_group("sse_decode");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.bench_function("events", |b| {
        b.iter(|| {
            let mut decoder = SseDecoder::new();
            let mut events = Vec::new();
            let mut n = 0usize;
            for read in bytes.chunks(16 * 1024) {
                decoder.feed(read, &mut events).expect("decode");
                n += events.len();
                events.clear();
            }
            decoder.finish(&mut events).expect("finish");
            n + events.len()
        });
    });
    group.bench_function("events_and_json", |b| {
        b.iter(|| {
            let mut decoder = SseDecoder::new();
            let mut events = Vec::new();
            let mut pieces = 0usize;
            for read in bytes.chunks(16 * 1024) {
                decoder.feed(read, &mut events).expect("decode");
                for e in events.drain(..) {
                    if let Some(delta) = openai::parse_delta(&e.data).expect("parse") {
                        pieces += delta.chunks.len();
                    }
                }
            }
            pieces
        });
    });
    group.finish();
}

criterion_group!(benches, sse, calls);
criterion_main!(benches);
