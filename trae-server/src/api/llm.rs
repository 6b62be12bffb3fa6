//! `/api/llm`: chats with language models through the model gateway, in the OpenAI
//! chat-completions shape (so OpenAI clients can talk to trae), whole or as server-sent
//! events, and the list of model endpoints.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use poem::web::sse::{Event as SseEvent, SSE};
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Query};
use trae_agents::llm::openai;
use trae_agents::{ModelEndpoint, ModelGateway, ModelStream};
use trae_core::{
    BudgetLimits, ChatMessage, ChatRequest, ChatResponse, ChatStream as _, Clock, Error,
    PageRequest, ResponseFormat, Role, RunBudget, ToolCall, ToolSpec,
};
use uuid::Uuid;

use super::ApiTags;
use super::apis::HealthBody;
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// A comment this often keeps a quiet stream open through proxies.
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The language-model router.
#[derive(Clone)]
pub struct LlmApi {
    models: ModelGateway,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LlmApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmApi").finish_non_exhaustive()
    }
}

impl LlmApi {
    /// A router over `models`, timing budgets on `clock`.
    pub fn new(models: ModelGateway, clock: Arc<dyn Clock>) -> Self {
        Self { models, clock }
    }
}

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ChatRole", rename_all = "lowercase")]
pub enum RoleBody {
    /// Instructions.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

/// The only kind of tool there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ChatToolType", rename_all = "lowercase")]
pub enum ToolType {
    /// A function the model may call.
    Function,
}

/// A function call, as the model wrote it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatFunctionCall", deny_unknown_fields)]
pub struct FunctionCallBody {
    /// The function.
    pub name: String,
    /// Its arguments: JSON text as the model wrote it.
    pub arguments: String,
}

/// A tool call of an assistant message.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatToolCall", deny_unknown_fields)]
pub struct ToolCallBody {
    /// The id a tool message answering it names.
    pub id: String,
    /// Always `function`.
    #[oai(rename = "type")]
    pub kind: Option<ToolType>,
    /// The call.
    pub function: FunctionCallBody,
}

/// One message of the conversation.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatMessage", deny_unknown_fields)]
pub struct MessageBody {
    /// Who says it.
    pub role: RoleBody,
    /// Its text (`null` for an assistant message that only calls tools).
    pub content: Option<String>,
    /// The tools an assistant message calls.
    pub tool_calls: Option<Vec<ToolCallBody>>,
    /// For a tool message: the call it answers.
    pub tool_call_id: Option<String>,
}

/// A function the model may call.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatFunction", deny_unknown_fields)]
pub struct FunctionBody {
    /// Its name: 1–64 letters, digits, `_` or `-`.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// The JSON Schema of its arguments (an object).
    pub parameters: serde_json::Value,
}

/// A tool the model may call.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatTool", deny_unknown_fields)]
pub struct ToolBody {
    /// Always `function`.
    #[oai(rename = "type")]
    pub kind: ToolType,
    /// The function.
    pub function: FunctionBody,
}

/// The shape of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ChatResponseFormatType", rename_all = "snake_case")]
pub enum FormatType {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against `json_schema.schema`, checked by trae.
    JsonSchema,
}

/// A JSON Schema an answer must satisfy.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatJsonSchema", deny_unknown_fields)]
pub struct JsonSchemaBody {
    /// Its name: 1–64 letters, digits, `_` or `-`.
    pub name: String,
    /// The schema (an object).
    pub schema: serde_json::Value,
    /// Accepted for OpenAI compatibility; trae checks every answer anyway.
    pub strict: Option<bool>,
    /// What the answer is.
    pub description: Option<String>,
}

/// The shape of an answer.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatResponseFormat", deny_unknown_fields)]
pub struct ResponseFormatBody {
    /// Text, a JSON object, or JSON against a schema.
    #[oai(rename = "type")]
    pub kind: FormatType,
    /// The schema, with `json_schema`.
    pub json_schema: Option<JsonSchemaBody>,
}

/// What one request may spend.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatBudget", deny_unknown_fields)]
pub struct BudgetBody {
    /// Tokens, of requests and answers together.
    pub tokens: Option<u64>,
    /// Dollars, at the endpoints' prices.
    pub cost: Option<f64>,
    /// Seconds.
    pub wall_time_secs: Option<u32>,
}

impl From<BudgetBody> for BudgetLimits {
    fn from(b: BudgetBody) -> Self {
        Self {
            tokens: b.tokens,
            cost: b.cost,
            wall_time: b.wall_time_secs.map(|s| Duration::from_secs(u64::from(s))),
            call_tokens: None,
        }
    }
}

/// A chat request: the OpenAI chat-completions body, with trae's `persona_id` and `budget`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatCompletionRequest", deny_unknown_fields)]
pub struct ChatBody {
    /// The model; the endpoint's default when omitted.
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<MessageBody>,
    /// Sampling temperature, 0–2.
    pub temperature: Option<f32>,
    /// The most tokens of the answer.
    pub max_tokens: Option<u32>,
    /// Up to 4 sequences that end the answer.
    pub stop: Option<Vec<String>>,
    /// A seed, for providers that sample reproducibly.
    pub seed: Option<u64>,
    /// The shape of the answer.
    pub response_format: Option<ResponseFormatBody>,
    /// Tools the model may call.
    pub tools: Option<Vec<ToolBody>>,
    /// An author persona whose rendered prompt becomes the first system message.
    pub persona_id: Option<Uuid>,
    /// Answer as server-sent events (`text/event-stream`) instead of one JSON body.
    pub stream: Option<bool>,
    /// Limits on what this request may spend.
    pub budget: Option<BudgetBody>,
}

fn role_of(role: RoleBody) -> Role {
    match role {
        RoleBody::System => Role::System,
        RoleBody::User => Role::User,
        RoleBody::Assistant => Role::Assistant,
        RoleBody::Tool => Role::Tool,
    }
}

impl ChatBody {
    fn into_request(self) -> Result<(ChatRequest, BudgetLimits, bool), ApiError> {
        let response_format = match self.response_format {
            None => None,
            Some(f) => Some(match f.kind {
                FormatType::Text => ResponseFormat::Text,
                FormatType::JsonObject => ResponseFormat::JsonObject,
                FormatType::JsonSchema => {
                    let schema = f.json_schema.ok_or_else(|| {
                        Error::validation(
                            "response_format.json_schema",
                            "gives the schema the answer must satisfy",
                        )
                    })?;
                    ResponseFormat::JsonSchema {
                        name: schema.name,
                        schema: schema.schema,
                    }
                }
            }),
        };
        let request = ChatRequest {
            model: self.model,
            messages: self
                .messages
                .into_iter()
                .map(|m| ChatMessage {
                    role: role_of(m.role),
                    content: m.content,
                    tool_calls: m
                        .tool_calls
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| ToolCall {
                            id: c.id,
                            name: c.function.name,
                            arguments: c.function.arguments,
                        })
                        .collect(),
                    tool_call_id: m.tool_call_id,
                })
                .collect(),
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            stop: self.stop.unwrap_or_default(),
            seed: self.seed,
            response_format,
            tools: self
                .tools
                .unwrap_or_default()
                .into_iter()
                .map(|t| ToolSpec {
                    name: t.function.name,
                    description: t.function.description,
                    parameters: t.function.parameters,
                })
                .collect(),
            persona: self.persona_id,
        };
        let limits = self.budget.map_or_else(BudgetLimits::default, Into::into);
        Ok((request, limits, self.stream.unwrap_or(false)))
    }
}

/// The answer message.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatAnswerMessage")]
pub struct AnswerMessageBody {
    /// Always `assistant`.
    pub role: RoleBody,
    /// Its text.
    pub content: Option<String>,
    /// The tools it calls.
    pub tool_calls: Option<Vec<ToolCallBody>>,
}

/// The one choice of an answer.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatChoice")]
pub struct ChoiceBody {
    /// Always 0.
    pub index: u32,
    /// The answer.
    pub message: AnswerMessageBody,
    /// `stop`, `length`, `tool_calls`, `content_filter` or `unknown`.
    pub finish_reason: String,
}

/// Tokens used.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatUsage")]
pub struct UsageBody {
    /// Of the request.
    pub prompt_tokens: u32,
    /// Of the answer.
    pub completion_tokens: u32,
    /// Both.
    pub total_tokens: u64,
}

/// What trae adds to an answer.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatTraeDetails")]
pub struct TraeBody {
    /// The registry endpoint that answered.
    pub endpoint: String,
    /// What it cost, in dollars (0 without a price).
    pub cost: f64,
    /// Whether the provider reported usage (else it is estimated).
    pub usage_reported: bool,
    /// The request offered tools and the model called none.
    pub tools_ignored: bool,
    /// The answer as JSON, checked against the requested schema.
    pub json: Option<serde_json::Value>,
    /// Repair rounds the answer took to fit its schema.
    pub repairs: u32,
    /// Milliseconds from the request to the end of the answer.
    pub latency_ms: u64,
}

/// A whole answer, in the OpenAI `chat.completion` shape.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ChatCompletion")]
pub struct CompletionBody {
    /// An id for this answer.
    pub id: String,
    /// Always `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The model that answered.
    pub model: String,
    /// The answer.
    pub choices: Vec<ChoiceBody>,
    /// Tokens used.
    pub usage: UsageBody,
    /// trae's details.
    pub trae: TraeBody,
}

impl CompletionBody {
    fn new(id: String, created: i64, r: ChatResponse) -> Self {
        let tool_calls = (!r.tool_calls.is_empty()).then(|| {
            r.tool_calls
                .into_iter()
                .map(|c| ToolCallBody {
                    id: c.id,
                    kind: Some(ToolType::Function),
                    function: FunctionCallBody {
                        name: c.name,
                        arguments: c.arguments,
                    },
                })
                .collect()
        });
        Self {
            id,
            object: "chat.completion".into(),
            created,
            model: r.model,
            choices: vec![ChoiceBody {
                index: 0,
                message: AnswerMessageBody {
                    role: RoleBody::Assistant,
                    content: r.content,
                    tool_calls,
                },
                finish_reason: openai::finish_reason_wire(&r.finish_reason).to_owned(),
            }],
            usage: UsageBody {
                prompt_tokens: r.usage.prompt_tokens,
                completion_tokens: r.usage.completion_tokens,
                total_tokens: r.usage.total(),
            },
            trae: TraeBody {
                endpoint: r.endpoint,
                cost: r.cost,
                usage_reported: r.usage_reported,
                tools_ignored: r.tools_ignored,
                json: r.json,
                repairs: r.repairs,
                latency_ms: u64::try_from(r.latency.as_millis()).unwrap_or(u64::MAX),
            },
        }
    }
}

/// A chat's answer: one JSON body, or server-sent events when the request set `stream`.
pub enum ChatAnswer {
    /// The whole answer.
    Whole(Json<CompletionBody>),
    /// The answer as it is written.
    Stream(Response),
}

impl IntoResponse for ChatAnswer {
    fn into_response(self) -> Response {
        match self {
            Self::Whole(json) => json.into_response(),
            Self::Stream(response) => response,
        }
    }
}

impl ApiResponse for ChatAnswer {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The answer: a `chat.completion` JSON body, or with `stream` \
                    `text/event-stream` of `chat.completion.chunk` events (`data: {...}`), the \
                    last one with `finish_reason`, `usage` and `trae`, then `data: [DONE]`. An \
                    error after the stream began is one event `data: {\"error\": {\"code\", \
                    \"message\"}}`.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: CompletionBody::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: "text/event-stream",
                        schema: MetaSchemaRef::Inline(Box::new(
                            poem_openapi::registry::MetaSchema::new("string"),
                        )),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        CompletionBody::register(registry);
    }
}

/// A model endpoint and what it serves.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ModelEndpoint")]
pub struct ModelEndpointBody {
    /// The registry endpoint.
    pub endpoint: String,
    /// The model a request that names none gets there.
    pub default_model: Option<String>,
    /// The only models it serves (empty: any).
    pub models: Vec<String>,
    /// Its context window in tokens.
    pub context_window: Option<u32>,
    /// Dollars per million request tokens.
    pub input_price_per_million: Option<f64>,
    /// Dollars per million answer tokens.
    pub output_price_per_million: Option<f64>,
    /// Whether it takes JSON-schema answers natively (else trae instructs and checks).
    pub json_schema: bool,
    /// Whether calls may pick it.
    pub is_active: bool,
    /// Its health.
    pub health: HealthBody,
}

impl From<ModelEndpoint> for ModelEndpointBody {
    fn from(m: ModelEndpoint) -> Self {
        Self {
            endpoint: m.endpoint,
            default_model: m.default_model,
            models: m.models,
            context_window: m.context_window,
            input_price_per_million: m.price.map(|p| p.input_per_million),
            output_price_per_million: m.price.map(|p| p.output_per_million),
            json_schema: m.json_schema,
            is_active: m.is_active,
            health: m.health.into(),
        }
    }
}

/// The stream's events: each piece as a `chat.completion.chunk`, then `[DONE]`; an error
/// mid-way as one error event, after which the stream ends.
fn events(
    stream: ModelStream,
    id: String,
    created: i64,
) -> futures_util::stream::BoxStream<'static, SseEvent> {
    let model = stream.model().to_owned();
    futures_util::stream::unfold(Some(stream), move |state| {
        let id = id.clone();
        let model = model.clone();
        async move {
            let mut stream = state?;
            match stream.next().await {
                Ok(Some(chunk)) => {
                    let data = openai::chunk_json(&id, created, &model, &chunk);
                    Some((SseEvent::message(data.to_string()), Some(stream)))
                }
                Ok(None) => Some((SseEvent::message("[DONE]"), None)),
                Err(e) => {
                    let error = ApiError::from(e);
                    Some((SseEvent::message(error.body_json().to_string()), None))
                }
            }
        }
    })
    .boxed()
}

#[OpenApi(tag = "ApiTags::Llm")]
impl LlmApi {
    /// Chat with a language model (llm:use)
    ///
    /// The OpenAI chat-completions request and answer, routed to an API-registry endpoint of
    /// capability `llm.chat` (limits, failover, vault credentials; usage and cost land in the
    /// endpoint's log). `stream: true` answers as server-sent events. 404 when no endpoint
    /// serves the model; 422 for a bad request or a `budget` that cannot pay for the call
    /// (`budget_exceeded`, nothing sent); 429 when every endpoint is at its rate limit; 502
    /// when every endpoint failed (`upstream_failed`) or the answer missed its JSON schema
    /// after a repair round (`invalid_answer`).
    #[oai(path = "/api/llm/chat", method = "post", operation_id = "llm_chat")]
    async fn chat(&self, auth: Auth, body: JsonBody<ChatBody>) -> Result<ChatAnswer, ApiError> {
        let (request, limits, stream) = body.0.into_request()?;
        let budget = RunBudget::new(limits, Arc::clone(&self.clock));
        let id = format!("chatcmpl-{}", Uuid::now_v7().simple());
        let created = self.clock.now().timestamp();
        if stream {
            let stream = self
                .models
                .stream(auth.principal(), request, &budget)
                .await?;
            let sse = SSE::new(events(stream, id, created)).keep_alive(SSE_KEEP_ALIVE);
            return Ok(ChatAnswer::Stream(sse.into_response()));
        }
        let answer = self.models.chat(auth.principal(), request, &budget).await?;
        Ok(ChatAnswer::Whole(Json(CompletionBody::new(
            id, created, answer,
        ))))
    }

    /// List the model endpoints (llm:use)
    ///
    /// Every API-registry endpoint of capability `llm.chat`, by priority then name, with the
    /// default model, pinned models, context window and prices its `metadata` gives.
    #[oai(path = "/api/llm/models", method = "get", operation_id = "llm_models")]
    async fn models(
        &self,
        auth: Auth,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<ModelEndpointBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        Ok(Json(
            self.models.models(auth.principal(), page).await?.into(),
        ))
    }
}
