//! The model gateway: the one door to language models. A chat goes to an API-registry
//! endpoint of capability `llm.chat` through the [`Orchestrator`], so the registry's
//! routing, rate limits, failover, vault credentials, health and request log apply to it.
//!
//! # A call
//!
//! 1. The principal needs `llm:use`. The request is checked; a persona, when named, puts its
//!    rendered prompt first as the system message.
//! 2. The endpoints that serve the model are the candidates (an endpoint whose `metadata`
//!    pins `models` serves only those; one without serves any, its `default_model` when the
//!    request names none).
//! 3. The run's [`RunBudget`] admits the call before anything is sent, at the dearest
//!    candidate's price, and caps `max_tokens` to what is left; each endpoint's context
//!    window caps it again, and an endpoint whose window the prompt alone fills is passed
//!    over.
//! 4. The orchestrator sends it. A chat completion has no effect beyond its cost, so it is
//!    retried and failed over like a GET (5xx, 408, 429 with `Retry-After`, timeouts, broken
//!    connections), but never once an answer has begun to arrive.
//! 5. The answer's usage (or an estimate where the provider reports none) settles the budget
//!    and is logged with the attempt: model, tokens and cost in dollars.
//! 6. A JSON-schema answer is checked against the schema; a wrong one gets one repair round,
//!    then an [`Error::InvalidAnswer`] naming the path that failed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::Serialize;
use trae_core::content::Personas;
use trae_core::{
    Admission, AnswerAssembler, ApiEndpoint, CallEstimate, ChatChunk, ChatMessage, ChatModel,
    ChatRequest, ChatResponse, ChatStream, Error, FinishReason, HealthStatus, LLM_CHAT, LLM_USE,
    ModelPrice, Page, PageRequest, Principal, ProviderSettings, ResponseFormat, Result, RunBudget,
    Usage, estimate_tokens,
};

use super::openai;
use super::sse::{SseDecoder, SseEvent};
use super::structured::AnswerSchema;
use crate::AgentError;
use crate::orchestrator::{ApiCall, CallUsage, EndpointBody, OpenCall, Orchestrator};

/// The path under an endpoint's base URL (which ends in `/v1`) that takes chat completions.
pub const CHAT_PATH: &str = "/chat/completions";

/// The largest whole answer read (a stream has no such cap: it is read as it arrives).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// How the gateway behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Log prompts and answers at debug level (`TRAE_LLM_LOG_CONTENT`); off, only their
    /// sizes are logged.
    pub log_content: bool,
}

/// A model endpoint, as `GET /api/llm/models` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEndpoint {
    /// The registry endpoint.
    pub endpoint: String,
    /// The model a request that names none gets there.
    pub default_model: Option<String>,
    /// The models pinned to it (empty: it takes any).
    pub models: Vec<String>,
    /// Its context window in tokens, when known.
    pub context_window: Option<u32>,
    /// Its price, when it has one.
    pub price: Option<ModelPrice>,
    /// Whether it takes JSON-schema response formats natively.
    pub json_schema: bool,
    /// Whether calls may pick it.
    pub is_active: bool,
    /// Its health.
    pub health: HealthStatus,
}

/// The gateway. Cheap to clone.
#[derive(Clone)]
pub struct ModelGateway {
    orchestrator: Orchestrator,
    personas: Option<Personas>,
    options: GatewayOptions,
}

impl std::fmt::Debug for ModelGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelGateway")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A request made ready for the wire: persona applied, schema compiled, candidates found.
struct Prepared {
    request: Arc<ChatRequest>,
    schema: Option<Arc<AnswerSchema>>,
    candidates: Vec<(ApiEndpoint, ProviderSettings)>,
}

/// The error a failed orchestrator call is to a model's caller.
fn core_error(e: AgentError) -> Error {
    match e {
        AgentError::Core(e) => e,
        AgentError::Invalid { field, message } => Error::Validation { field, message },
        AgentError::Limited {
            message,
            retry_after,
        } => Error::RateLimited {
            message,
            retry_after_ms: u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
        },
        AgentError::NotFound(message) => Error::NotFound {
            entity: "model endpoint",
            id: message,
        },
        other => Error::Upstream(other.to_string()),
    }
}

impl ModelGateway {
    /// A gateway calling models through `orchestrator`.
    pub fn new(orchestrator: Orchestrator, options: GatewayOptions) -> Self {
        Self {
            orchestrator,
            personas: None,
            options,
        }
    }

    /// Also renders the personas requests name from `personas`.
    pub fn with_personas(mut self, personas: Personas) -> Self {
        self.personas = Some(personas);
        self
    }

    /// This gateway as the [`ChatModel`] an agent acting for `principal` calls.
    pub fn acting_for(&self, principal: Principal) -> Arc<dyn ChatModel> {
        Arc::new(ActingModel {
            gateway: self.clone(),
            principal,
        })
    }

    /// The `llm.chat` endpoints with what their metadata says, by priority then name, for
    /// `principal` (`llm:use`).
    pub async fn models(
        &self,
        principal: &Principal,
        page: PageRequest,
    ) -> Result<Page<ModelEndpoint>> {
        let registry = self.orchestrator.registry();
        registry.require(principal, LLM_USE).await?;
        let endpoints = registry.endpoints_for(LLM_CHAT).await?;
        let all = endpoints
            .into_iter()
            .map(|e| {
                // Metadata is checked when an endpoint is saved; one saved before that reads
                // as having no settings rather than failing the list.
                let s = ProviderSettings::from_metadata(&e.spec.metadata).unwrap_or_default();
                ModelEndpoint {
                    endpoint: e.spec.name.clone(),
                    default_model: s.default_model,
                    models: s.models,
                    context_window: s.context_window,
                    price: s.price,
                    json_schema: s.json_schema,
                    is_active: e.spec.is_active,
                    health: e.health,
                }
            })
            .collect();
        Ok(Page::of(all, page))
    }

    /// The whole answer to `request` for `principal` (`llm:use`), under `budget`.
    pub async fn chat(
        &self,
        principal: &Principal,
        request: ChatRequest,
        budget: &RunBudget,
    ) -> Result<ChatResponse> {
        let prepared = self.prepare(principal, request).await?;
        let mut answer = self.exchange(principal, &prepared, budget).await?;
        let Some(schema) = prepared.schema.clone() else {
            return Ok(answer);
        };
        match schema.check(answer.content.as_deref()) {
            Ok(json) => {
                answer.json = Some(json);
                Ok(answer)
            }
            Err(mismatch) => {
                tracing::info!(path = %mismatch.path, "a model answer missed its schema; asking once more");
                let mut repair = (*prepared.request).clone();
                repair.messages.push(ChatMessage::assistant(
                    answer.content.clone().unwrap_or_default(),
                ));
                repair
                    .messages
                    .push(ChatMessage::user(mismatch.repair_prompt()));
                let retry = Prepared {
                    request: Arc::new(repair),
                    ..prepared
                };
                let mut second = self.exchange(principal, &retry, budget).await?;
                second.usage.prompt_tokens += answer.usage.prompt_tokens;
                second.usage.completion_tokens += answer.usage.completion_tokens;
                second.cost += answer.cost;
                second.latency += answer.latency;
                second.repairs = 1;
                let json = schema
                    .check(second.content.as_deref())
                    .map_err(super::structured::Mismatch::into_error)?;
                second.json = Some(json);
                Ok(second)
            }
        }
    }

    /// The answer to `request` as it is written, for `principal` (`llm:use`), under
    /// `budget`. A JSON-schema answer is checked when it ends (a stream gets no repair
    /// round: its text has been delivered).
    pub async fn stream(
        &self,
        principal: &Principal,
        request: ChatRequest,
        budget: &RunBudget,
    ) -> Result<ModelStream> {
        let prepared = self.prepare(principal, request).await?;
        let (open, call) = self.send(principal, &prepared, budget, true).await?;
        Ok(ModelStream {
            open: Some(open),
            decoder: SseDecoder::new(),
            events: Vec::new(),
            pending: VecDeque::new(),
            assembler: AnswerAssembler::default(),
            finish_reason: None,
            usage: None,
            call,
            schema: prepared.schema,
            tools_offered: !prepared.request.tools.is_empty(),
            answering: None,
            received: false,
            finished: false,
        })
    }

    async fn prepare(&self, principal: &Principal, mut request: ChatRequest) -> Result<Prepared> {
        let registry = self.orchestrator.registry();
        registry.require(principal, LLM_USE).await?;
        request.validate()?;
        if let Some(id) = request.persona {
            let personas = self
                .personas
                .as_ref()
                .ok_or_else(|| Error::validation("persona", "personas are not available here"))?;
            let rendered = personas.prompt(principal, id).await?;
            request
                .messages
                .insert(0, ChatMessage::system(rendered.prompt));
        }
        let schema = match &request.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => {
                Some(Arc::new(AnswerSchema::compile(schema)?))
            }
            _ => None,
        };
        let endpoints = registry.endpoints_for(LLM_CHAT).await?;
        let wanted = request.model.as_deref();
        let candidates: Vec<(ApiEndpoint, ProviderSettings)> = endpoints
            .into_iter()
            .filter_map(|e| {
                let settings = ProviderSettings::from_metadata(&e.spec.metadata).ok()?;
                settings.model_for(wanted)?;
                Some((e, settings))
            })
            .collect();
        if candidates.is_empty() {
            return Err(Error::NotFound {
                entity: "model",
                id: match wanted {
                    Some(model) => format!("{model} (no llm.chat endpoint serves it)"),
                    None => "(no llm.chat endpoint has a default model)".to_owned(),
                },
            });
        }
        Ok(Prepared {
            request: Arc::new(request),
            schema,
            candidates,
        })
    }

    /// Admits the call, sends it and returns the answer as it starts to arrive.
    async fn send(
        &self,
        principal: &Principal,
        prepared: &Prepared,
        budget: &RunBudget,
        stream: bool,
    ) -> Result<(OpenCall, CallInfo)> {
        let request = Arc::clone(&prepared.request);
        let prompt_tokens = estimate_tokens(&request.messages);
        let dearest = prepared
            .candidates
            .iter()
            .filter_map(|(_, s)| s.price)
            .reduce(|a, b| ModelPrice {
                input_per_million: a.input_per_million.max(b.input_per_million),
                output_per_million: a.output_per_million.max(b.output_per_million),
            });
        let admission = budget.admit(CallEstimate {
            prompt_tokens,
            max_tokens: request.max_tokens,
            price: dearest,
        })?;
        let cap = admission.max_tokens();
        let settings: Vec<(String, ProviderSettings)> = prepared
            .candidates
            .iter()
            .map(|(e, s)| (e.spec.name.clone(), s.clone()))
            .collect();
        let body_request = Arc::clone(&request);
        let body_for = EndpointBody(Arc::new(move |endpoint: &ApiEndpoint| {
            let (_, s) = settings.iter().find(|(n, _)| *n == endpoint.spec.name)?;
            let model = s.model_for(body_request.model.as_deref())?;
            let max_tokens = match s.context_window {
                Some(window) if window <= prompt_tokens => return None,
                Some(window) => {
                    Some(cap.map_or(window - prompt_tokens, |c| c.min(window - prompt_tokens)))
                }
                None => cap,
            };
            let body =
                openai::request_body(&body_request, &model, max_tokens, stream, s.json_schema);
            serde_json::to_vec(&body).ok()
        }));
        if self.options.log_content {
            tracing::debug!(messages = ?request.messages, "model request");
        } else {
            tracing::debug!(
                messages = request.messages.len(),
                prompt_tokens,
                "model request"
            );
        }
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if stream {
            headers.push(("accept".to_owned(), "text/event-stream".to_owned()));
        }
        let started = Instant::now();
        let answer = self
            .orchestrator
            .open(
                principal,
                LLM_USE,
                LLM_CHAT,
                ApiCall {
                    method: "POST".into(),
                    path: CHAT_PATH.into(),
                    headers,
                    body_for: Some(body_for),
                    replayable: true,
                    ..ApiCall::default()
                },
            )
            .await
            .map_err(core_error)?;
        let open = match answer {
            Ok(open) => open,
            Err(refused) => {
                let detail = openai::parse_completion(&refused.body)
                    .err()
                    .unwrap_or_default();
                return Err(Error::Upstream(format!(
                    "{} answered {}: {}",
                    refused.endpoint,
                    refused.status,
                    if detail.is_empty() {
                        String::from_utf8_lossy(&refused.body)
                            .chars()
                            .take(500)
                            .collect()
                    } else {
                        detail
                    }
                )));
            }
        };
        let settings = prepared
            .candidates
            .iter()
            .find(|(e, _)| e.spec.name == open.endpoint.spec.name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let call = CallInfo {
            model: settings
                .model_for(request.model.as_deref())
                .unwrap_or_default(),
            endpoint: open.endpoint.spec.name.clone(),
            price: settings.price,
            prompt_tokens,
            started,
            admission: Some(admission),
            log_content: self.options.log_content,
        };
        Ok((open, call))
    }

    /// One round trip for a whole answer.
    async fn exchange(
        &self,
        principal: &Principal,
        prepared: &Prepared,
        budget: &RunBudget,
    ) -> Result<ChatResponse> {
        let (mut open, mut call) = self.send(principal, prepared, budget, false).await?;
        let mut body = Vec::new();
        loop {
            match open.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_ANSWER_BYTES => {
                    let error = format!("the answer is longer than {MAX_ANSWER_BYTES} bytes");
                    call.fail(open, &error, None);
                    return Err(Error::Upstream(error));
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    let error = e.to_string();
                    call.fail(open, &error, None);
                    return Err(Error::Upstream(error));
                }
            }
        }
        let completion = match openai::parse_completion(&body) {
            Ok(c) => c,
            Err(error) => {
                call.fail(open, &error, None);
                return Err(Error::Upstream(format!("{}: {error}", call.endpoint)));
            }
        };
        let tools_offered = !prepared.request.tools.is_empty();
        let response = call.answer(
            open,
            completion.model,
            completion.content,
            completion.tool_calls,
            completion.finish_reason,
            completion.usage,
            tools_offered,
        );
        Ok(response)
    }
}

/// What is known about a call in flight, to log and settle it when it ends.
struct CallInfo {
    model: String,
    endpoint: String,
    price: Option<ModelPrice>,
    prompt_tokens: u32,
    started: Instant,
    admission: Option<Admission>,
    log_content: bool,
}

impl CallInfo {
    fn cost(&self, usage: &Usage) -> f64 {
        self.price.map_or(0.0, |p| p.cost(usage))
    }

    fn estimated(&self, content: Option<&str>) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: content.map_or(0, |c| {
                estimate_tokens(&[ChatMessage::assistant(c)]).saturating_sub(7)
            }),
        }
    }

    fn settle(&mut self, open: OpenCall, usage: Usage, error: Option<String>) -> f64 {
        let cost = self.cost(&usage);
        // What a call used, never what it said (that is TRAE_LLM_LOG_CONTENT's, at debug).
        tracing::info!(
            model = %self.model,
            endpoint = %self.endpoint,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            cost,
            latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            error = error.as_deref(),
            "model call"
        );
        open.finish(CallUsage {
            model: Some(self.model.clone()),
            prompt_tokens: Some(usage.prompt_tokens),
            completion_tokens: Some(usage.completion_tokens),
            cost: self.price.map(|_| cost),
            error,
        });
        if let Some(admission) = self.admission.take() {
            admission.settle(&usage, cost);
        }
        cost
    }

    /// Ends a call that failed: the tokens it may have used are charged as estimated.
    fn fail(&mut self, open: OpenCall, error: &str, content: Option<&str>) {
        let usage = self.estimated(content);
        self.settle(open, usage, Some(error.to_owned()));
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        open: OpenCall,
        model: Option<String>,
        content: Option<String>,
        tool_calls: Vec<trae_core::ToolCall>,
        finish_reason: FinishReason,
        usage: Option<Usage>,
        tools_offered: bool,
    ) -> ChatResponse {
        let usage_reported = usage.is_some();
        let usage = usage.unwrap_or_else(|| self.estimated(content.as_deref()));
        let cost = self.settle(open, usage, None);
        let tools_ignored = tools_offered && tool_calls.is_empty();
        if tools_ignored {
            tracing::warn!(
                endpoint = %self.endpoint,
                model = %self.model,
                "the model was offered tools and called none"
            );
        }
        if self.log_content {
            tracing::debug!(content = ?content, tool_calls = ?tool_calls, "model answer");
        }
        ChatResponse {
            model: model.unwrap_or_else(|| self.model.clone()),
            endpoint: self.endpoint.clone(),
            content,
            tool_calls,
            finish_reason,
            usage,
            usage_reported,
            cost,
            latency: self.started.elapsed(),
            tools_ignored,
            json: None,
            repairs: 0,
        }
    }
}

/// A streamed answer. Dropping it stops reading, closes the connection to the provider and
/// charges the budget what the answer used so far (estimated).
pub struct ModelStream {
    open: Option<OpenCall>,
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    pending: VecDeque<ChatChunk>,
    assembler: AnswerAssembler,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    call: CallInfo,
    schema: Option<Arc<AnswerSchema>>,
    tools_offered: bool,
    /// The model the provider says is answering (its chunks name it).
    answering: Option<String>,
    received: bool,
    finished: bool,
}

impl std::fmt::Debug for ModelStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelStream")
            .field("endpoint", &self.call.endpoint)
            .field("model", &self.call.model)
            .finish_non_exhaustive()
    }
}

impl ModelStream {
    /// The model asked for (the finished answer names the one the provider says answered).
    pub fn model(&self) -> &str {
        &self.call.model
    }

    /// The endpoint answering.
    pub fn endpoint(&self) -> &str {
        &self.call.endpoint
    }

    fn fail(&mut self, error: &str) -> Error {
        self.finished = true;
        if let Some(open) = self.open.take() {
            let content = self.assembler.content().map(str::to_owned);
            self.call.fail(open, error, content.as_deref());
        }
        Error::Upstream(format!("{}: {error}", self.call.endpoint))
    }

    /// Reads events into `pending`; true when the answer is complete.
    fn take_events(&mut self) -> std::result::Result<bool, String> {
        let mut done = false;
        for event in std::mem::take(&mut self.events) {
            match openai::parse_delta(&event.data)? {
                None => done = true,
                Some(delta) => {
                    self.received = true;
                    if delta.model.is_some() {
                        self.answering = delta.model;
                    }
                    for chunk in delta.chunks {
                        self.assembler.add(&chunk);
                        self.pending.push_back(chunk);
                    }
                    if delta.finish_reason.is_some() {
                        self.finish_reason = delta.finish_reason;
                    }
                    if delta.usage.is_some() {
                        self.usage = delta.usage;
                    }
                }
            }
        }
        Ok(done)
    }

    fn complete(&mut self) -> Result<()> {
        self.finished = true;
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let assembler = std::mem::take(&mut self.assembler);
        let (content, tool_calls) = assembler.finish();
        let mut response = self.call.answer(
            open,
            self.answering.take(),
            content,
            tool_calls,
            self.finish_reason.clone().unwrap_or(FinishReason::Unknown),
            self.usage,
            self.tools_offered,
        );
        if let Some(schema) = &self.schema {
            response.json = Some(
                schema
                    .check(response.content.as_deref())
                    .map_err(super::structured::Mismatch::into_error)?,
            );
        }
        self.pending.push_back(ChatChunk::Done(Box::new(response)));
        Ok(())
    }
}

#[async_trait]
impl ChatStream for ModelStream {
    async fn next(&mut self) -> Result<Option<ChatChunk>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Ok(Some(chunk));
            }
            if self.finished {
                return Ok(None);
            }
            let Some(open) = self.open.as_mut() else {
                return Ok(None);
            };
            let read = open.chunk().await;
            let ended = match read {
                Ok(Some(bytes)) => self.decoder.feed(&bytes, &mut self.events).map(|()| false),
                Ok(None) => self.decoder.finish(&mut self.events).map(|()| true),
                Err(e) => Err(e),
            };
            let ended = match ended {
                Ok(ended) => ended,
                Err(e) => return Err(self.fail(&e.to_string())),
            };
            match self.take_events() {
                Ok(_) if ended && !self.received => {
                    return Err(self.fail("the stream ended before any answer"));
                }
                Ok(done) if done || ended => self.complete()?,
                Ok(_) => {}
                Err(e) => return Err(self.fail(&e)),
            }
        }
    }
}

impl Drop for ModelStream {
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            let content = self.assembler.content().map(str::to_owned);
            self.call
                .fail(open, "the caller stopped reading", content.as_deref());
        }
    }
}

/// The gateway acting for one principal: the [`ChatModel`] agents are given.
struct ActingModel {
    gateway: ModelGateway,
    principal: Principal,
}

#[async_trait]
impl ChatModel for ActingModel {
    async fn chat(&self, request: ChatRequest, budget: &RunBudget) -> Result<ChatResponse> {
        self.gateway.chat(&self.principal, request, budget).await
    }

    async fn stream(
        &self,
        request: ChatRequest,
        budget: &RunBudget,
    ) -> Result<Box<dyn ChatStream>> {
        Ok(Box::new(
            self.gateway
                .stream(&self.principal, request, budget)
                .await?,
        ))
    }
}
