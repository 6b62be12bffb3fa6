//! The core of trae: domain types, the rules that govern them, and the ports (traits) that
//! storage, transports and bindings implement.
//!
//! Nothing in this crate performs I/O on its own. Services take their collaborators (a
//! repository, a [`Clock`], an [`EventBus`]) as trait objects, so the same rules run under the
//! HTTP server, the Python module, a worker, or a unit test with a manual clock.

pub mod alert;
pub mod api_endpoint;
pub mod api_key;
pub mod api_registry;
pub mod api_routing;
pub mod audit;
pub mod backoff;
pub mod batch_writer;
pub mod client_ip;
pub mod clock;
pub mod component_health;
pub mod config;
pub mod content;
pub mod contradiction;
pub mod error;
pub mod event;
pub mod gateway_limit;
pub mod health;
pub mod identity;
pub mod lockout;
pub mod metric_series;
pub mod page;
pub mod permission;
pub mod pet;
pub mod principal;
pub mod queue_bench;
pub mod rate_limit;
pub mod recurring;
pub mod request_history;
pub mod request_stats;
pub mod secret;
pub mod session;
pub mod shared_quota;
pub mod shared_setting;
pub mod task;
pub mod task_queue;
pub mod telemetry;
pub mod user;
pub mod worker;

pub use alert::{
    ALERTS_ADMIN, Alert, AlertFilter, AlertRepository, AlertRule, AlertRuleSpec, AlertState,
    Alerts, Comparison, METRICS_READ, Severity,
};
pub use api_endpoint::{
    ApiActivity, ApiAttempt, ApiAuth, ApiEndpoint, ApiEndpointFilter, ApiEndpointSpec, ApiLimits,
    ApiRepository, ApiUsage, HealthCheckSpec,
};
pub use api_key::{ApiKey, ApiKeyRepository};
pub use api_registry::{
    APIS_ADMIN, APIS_CALL, APIS_READ, ApiRegistry, Observation, RegistryOptions,
};
pub use api_routing::{EndpointLoads, RoutingStrategy};
pub use audit::{
    ActorKind, ActorRef, AuditEntry, AuditFilter, AuditLog, AuditRepository, NewAuditEntry,
    Outcome, RequestMeta,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use component_health::{
    CheckOutcome, ComponentHealth, ComponentReport, HealthCheck, HealthHistory, TransitionRecord,
};
pub use config::{
    AuthConfig, BackupConfig, Config, ConfigOverrides, ConfigSummary, DatabaseBackend,
    GatewayLimitConfig, LogFormat, MetricsConfig, OutboundConfig, RequestHistoryConfig,
    ScheduleConfig, SecretString, TaskConfig,
};
pub use error::{Error, Result};
pub use event::{BroadcastBus, Event, EventBus, EventSubscription, RecvError};
pub use gateway_limit::{ClientKey, GatewayDecision, GatewayLimiter, RouteGroup};
pub use health::{HealthRules, HealthStatus};
pub use metric_series::{
    Labels, MetricRepository, MetricSeries, MetricSource, Resolution, Sample, Series, SeriesQuery,
    SeriesSet, StoredPoint,
};
pub use page::{Page, PageRequest};
pub use permission::Permission;
pub use pet::{
    NewPet, PETS_READ, PETS_WRITE, Pet, PetFilter, PetPatch, PetRepository, Pets, Species,
};
pub use principal::{PermissionSet, Principal};
pub use rate_limit::{
    Decision, KeyUsage, RateLimitPolicy, RateLimiter, UsageMark, WindowLimit, WindowStatus,
    WindowStatuses,
};
pub use request_stats::RequestStats;
pub use secret::{
    MasterKeyCheck, NewSecretVersion, SealedVersion, Secret, SecretFilter, SecretReader,
    SecretRepository, SecretVersion, WrappedDataKey,
};
pub use session::{RefreshTokenRecord, Rotation, Session, SessionRepository};
pub use shared_setting::SharedSettings;
pub use task::{
    ClaimRequest, Enqueued, Finish, KindStats, Lease, NewTask, Outcome as TaskOutcome,
    QueueSettings, QueueStats, Task, TaskFilter, TaskRecord, TaskRepository, TaskState, TaskStats,
};
pub use task_queue::{TASKS_READ, TASKS_WRITE, TaskQueue};
pub use user::{StoredUser, User, UserChange, UserFilter, UserRepository};
pub use worker::{
    HandlerResult, NoopHandler, TaskContext, TaskFailure, TaskHandler, Worker, WorkerOptions,
    WorkerSummary, handler_fn,
};
