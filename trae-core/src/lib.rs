//! The core of trae: domain types, the rules that govern them, and the ports (traits) that
//! storage, transports and bindings implement.
//!
//! Nothing in this crate performs I/O on its own. Services take their collaborators (a
//! repository, a [`Clock`], an [`EventBus`]) as trait objects, so the same rules run under the
//! HTTP server, the Python module, a worker, or a unit test with a manual clock.

pub mod apis;
pub mod backoff;
pub mod batch_writer;
pub mod clock;
pub mod config;
pub mod content;
pub mod error;
pub mod events;
pub mod identity;
pub mod llm;
pub mod monitoring;
pub mod page;
pub mod pet;
pub mod shared_setting;
pub mod solo;
pub mod tasks;
pub mod tdd;

pub use apis::api_endpoint::{
    ApiActivity, ApiAttempt, ApiAuth, ApiEndpoint, ApiEndpointFilter, ApiEndpointSpec, ApiLimits,
    ApiRepository, ApiUsage, HealthCheckSpec,
};
pub use apis::api_registry::{
    APIS_ADMIN, APIS_CALL, APIS_READ, ApiRegistry, Observation, RegistryOptions, UrlPolicy,
};
pub use apis::api_routing::{EndpointLoads, RoutingStrategy};
pub use apis::gateway_limit::{ClientKey, GatewayDecision, GatewayLimiter, RouteGroup};
pub use apis::rate_limit::{
    Decision, KeyUsage, RateLimitPolicy, RateLimiter, UsageMark, WindowLimit, WindowStatus,
    WindowStatuses,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    AuthConfig, BackupConfig, Config, ConfigOverrides, ConfigSummary, DatabaseBackend, EventConfig,
    GatewayLimitConfig, LogFormat, MetricsConfig, OutboundConfig, RequestHistoryConfig,
    ScheduleConfig, SecretString, TaskConfig,
};
pub use error::{Error, Result};
pub use events::envelope::{BroadcastBus, Event, EventBus, EventSubscription, RecvError};
pub use events::log::{EventRepository, NewEvent, StoredEvent, StreamPosition};
pub use events::stored_bus::StoredEventBus;
pub use events::stream::{
    EventPage, EventStream, EventStreamOptions, HistoryLost, Read, Resume, Subscription, Visibility,
};
pub use events::topic::Topic;
pub use identity::api_key::{ApiKey, ApiKeyRepository};
pub use identity::audit::{
    ActorKind, ActorRef, AuditEntry, AuditFilter, AuditLog, AuditRepository, NewAuditEntry,
    Outcome, RequestMeta,
};
pub use identity::permission::Permission;
pub use identity::principal::{PermissionSet, Principal};
pub use identity::secret::{
    BindingRight, MasterKeyCheck, NewSecretVersion, SECRETS_USE, SealedVersion, Secret,
    SecretBinding, SecretFilter, SecretReader, SecretRepository, SecretVersion, WrappedDataKey,
};
pub use identity::session::{RefreshTokenRecord, Rotation, Session, SessionRepository};
pub use identity::user::{StoredUser, User, UserChange, UserFilter, UserRepository};
pub use llm::budget::{Admission, BudgetLimits, CallEstimate, RunBudget, Spent};
pub use llm::chat::{
    AnswerAssembler, ChatChunk, ChatMessage, ChatModel, ChatRequest, ChatResponse, ChatStream,
    FinishReason, ModelPrice, ResponseFormat, Role, ToolCall, ToolSpec, Usage, estimate_tokens,
};
pub use llm::provider::{LLM_CHAT, LLM_USE, ProviderSettings};
pub use monitoring::alert::{
    ALERTS_ADMIN, Alert, AlertFilter, AlertRepository, AlertRule, AlertRuleSpec, AlertState,
    Alerts, Comparison, METRICS_READ, Severity,
};
pub use monitoring::component_health::{
    CheckOutcome, ComponentHealth, ComponentReport, HealthCheck, HealthHistory, TransitionRecord,
};
pub use monitoring::health::{HealthRules, HealthStatus};
pub use monitoring::metric_series::{
    Labels, MetricRepository, MetricSeries, MetricSource, Resolution, Sample, Series, SeriesQuery,
    SeriesSet, StoredPoint,
};
pub use monitoring::request_stats::RequestStats;
pub use page::{Page, PageRequest};
pub use pet::{
    NewPet, PETS_READ, PETS_WRITE, Pet, PetFilter, PetPatch, PetRepository, Pets, Species,
};
pub use shared_setting::SharedSettings;
pub use solo::interview::{
    Interview, InterviewRepository, InterviewStatus, ProjectType, QuestionSource, Turn,
};
pub use solo::plan::{Plan, PlanStep, Tool};
pub use solo::spec::{Feature, Spec, SpecVersion};
pub use tasks::task::{
    ClaimRequest, Enqueued, Finish, KindStats, LIST_COUNT_CAP, Lease, NewTask,
    Outcome as TaskOutcome, QueueBacklog, QueueSettings, QueueStats, Task, TaskFilter, TaskPage,
    TaskRecord, TaskRepository, TaskState, TaskStats,
};
pub use tasks::task_queue::{TASKS_ADMIN, TASKS_READ, TASKS_READ_ALL, TASKS_WRITE, TaskQueue};
pub use tasks::worker::{
    HandlerResult, NoopHandler, TaskContext, TaskFailure, TaskHandler, Worker, WorkerOptions,
    WorkerSummary, handler_fn,
};
pub use tdd::edit::{EditBlock, EditOutcome, EditResult, Placement, Refusal};
pub use tdd::generation::{
    GeneratedTest, Generation, Mutant, MutantOutcome, MutantResult, MutationKind, TestVerdict,
};
pub use tdd::run::{
    AGENTS_ADMIN, AGENTS_RUN, RunEnd, RunFilter, RunSpec, RunStatus, TddRepository, TddRun, TddStep,
};
pub use tdd::test_report::{FailureKind, TestFailure, TestReport};
