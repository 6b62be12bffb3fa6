//! Assembling the HTTP application: the routers, Swagger UI, the spec, and the middleware.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::endpoint::make_sync;
use poem::http::header;
use poem::middleware::{Cors, SetHeader};
use poem::web::Redirect;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::OpenApiService;
use trae_agents::{Orchestrator, OrchestratorOptions, OutboundClient};
use trae_auth::{Identity, Registration, RequestMeta, Vault};
use trae_core::request_history::{RequestHistoryOptions, RequestRecorder};
use trae_core::shared_quota::SharedQuota;
use trae_core::{Alerts, Config, GatewayLimiter, MetricSeries, RequestStats, User};
use trae_core::{ApiRegistry, RateLimiter, RegistryOptions};
use trae_storage::{Backups, HealthMonitor, Store};

use crate::api::admin::AdminApi;
use crate::api::apis::ApisApi;
use crate::api::audit::AuditApi;
use crate::api::auth::AuthApi;
use crate::api::backups::BackupsApi;
use crate::api::channels::ChannelsApi;
use crate::api::contradictions::ContradictionsApi;
use crate::api::discovery::DiscoveryApi;
use crate::api::evidence::EvidenceApi;
use crate::api::health::HealthApi;
use crate::api::metrics::MetricsApi;
use crate::api::personas::PersonasApi;
use crate::api::pets::PetsApi;
use crate::api::policy::PolicyApi;
use crate::api::runtime::RuntimeApi;
use crate::api::secrets::SecretsApi;
use crate::api::tasks::TasksApi;
use crate::api::users::UsersApi;
use crate::body_limit::BodyLimit;
use crate::gateway_limit::GatewayLimit;
use crate::request_context::RequestContext;

/// What the application serves from.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The open database.
    pub store: Store,
    /// The identity services over that database.
    pub identity: Identity,
    /// The secrets vault, authorized and audited through `identity`.
    pub vault: Vault,
    /// When the process started.
    pub started_at: DateTime<Utc>,
    /// Where served requests are recorded (`None` when history is off).
    pub history: Option<RequestRecorder>,
    /// The external API orchestrator, with the registry it routes from.
    pub apis: Orchestrator,
    /// Per-client rate limits on incoming requests (`TRAE_RATE_LIMIT*`).
    pub gateway: Arc<GatewayLimiter>,
    /// Every watched component's health, with the built-in components' checks.
    pub health: HealthMonitor,
    /// Backups of the database into `config.backup.dir`, audited through `identity`.
    pub backups: Backups,
    /// Sampled metric series, stored with retention.
    pub metrics: MetricSeries,
    /// Per-route request figures of the current sampling window, fed by every request.
    pub request_stats: RequestStats,
    /// Alert rules over `metrics`, evaluated after each sample.
    pub alerts: Alerts,
}

/// The identity services over `store`, configured by `config`: the signing key is
/// `TRAE_JWT_SECRET` or the one stored in the database.
pub async fn open_identity(config: &Config, store: &Store) -> trae_core::Result<Identity> {
    Identity::open(
        store.identity_repos(),
        &config.auth,
        config.jwt_secret.as_ref().map(|s| s.expose()),
        &*store.shared_settings(),
        store.clock(),
    )
    .await
}

/// The secrets vault over `store` with the master key `config` names (on PostgreSQL
/// `TRAE_MASTER_KEY` is required; a wrong key fails here), authorized and audited through
/// `identity`.
pub async fn open_vault(
    config: &Config,
    store: &Store,
    identity: &Identity,
) -> trae_core::Result<Vault> {
    Ok(
        Vault::from_config(config, store.secret_repository(), store.clock())
            .await?
            .with_audit(identity.audit.clone())
            .with_rbac(identity.rbac.clone()),
    )
}

/// The external API orchestrator over `store`: its registry (audited through `identity`), an
/// in-memory rate limiter, the outbound client `config` describes, and credentials from
/// `vault`. Starts the registry's attempt writer on the current runtime.
pub fn open_orchestrator(
    config: &Config,
    store: &Store,
    identity: &Identity,
    vault: &Vault,
) -> trae_core::Result<Orchestrator> {
    let registry = ApiRegistry::start(
        store.api_repository(),
        store.clock(),
        store.events(),
        RegistryOptions::default(),
    )
    .with_audit(identity.audit.clone());
    let client = OutboundClient::from_config(&config.outbound)
        .map_err(|e| trae_core::Error::Config(e.to_string()))?;
    Ok(Orchestrator::new(
        registry,
        client,
        Arc::new(RateLimiter::new(store.clock())),
        Arc::new(vault.clone()),
        OrchestratorOptions::default(),
    )
    .with_shared_quota(SharedQuota::new(store.quota_repository(), store.clock())))
}

impl AppState {
    /// The state over an open `store`, with identity wired as `config` says.
    pub async fn new(
        config: Config,
        store: Store,
        started_at: DateTime<Utc>,
    ) -> trae_core::Result<Self> {
        let identity = open_identity(&config, &store).await?;
        let vault = open_vault(&config, &store, &identity).await?;
        let apis = open_orchestrator(&config, &store, &identity, &vault)?;
        let h = config.request_history;
        let history = (h.percent > 0).then(|| {
            RequestRecorder::start(
                store.request_history_repository(),
                store.clock(),
                RequestHistoryOptions {
                    sample_rate: f64::from(h.percent) / 100.0,
                    retention: std::time::Duration::from_secs(u64::from(h.retention_days) * 86_400),
                    max_rows: u64::from(h.max_rows),
                    ..RequestHistoryOptions::default()
                },
            )
        });
        let gateway = Arc::new(GatewayLimiter::new(&config.rate_limit, store.clock())?);
        // Installed before the first request, so every metric is recorded.
        crate::prometheus::handle();
        // The built-in components are checked once here, so they are known from the start.
        let health = HealthMonitor::open(
            &store,
            config.health,
            config.data_dir.clone(),
            Some(identity.audit.clone()),
        )
        .await?;
        // Each registered external API shows up as an optional component `api:<name>`.
        apis.report_checks_to(health.health().clone());
        let backups = Backups::new(config.database_url.clone(), config.backup.clone())
            .with_events(store.events())
            .with_audit(identity.audit.clone());
        let request_stats = RequestStats::new();
        let metrics = MetricSeries::new(store.metric_repository(), store.clock());
        metrics.add_source(Arc::new(request_stats.clone()));
        metrics.add_source(Arc::new(store.tasks()));
        metrics.add_source(Arc::new(apis.registry().clone()));
        metrics.add_source(Arc::new(crate::process_metrics::ProcessMetrics::new(
            config.data_dir.clone(),
        )));
        let alerts = Alerts::new(
            store.alert_repository(),
            store.clock(),
            store.events(),
            Some(identity.audit.clone()),
            Some(store.tasks()),
        );
        Ok(Self {
            metrics,
            request_stats,
            alerts,
            config,
            store,
            identity,
            vault,
            started_at,
            history,
            apis,
            gateway,
            health,
            backups,
        })
    }

    /// Creates the first admin from `TRAE_ADMIN_USERNAME` and `TRAE_ADMIN_PASSWORD` when both
    /// are set and no active admin exists; returns the user created.
    pub async fn bootstrap_admin(&self) -> trae_core::Result<Option<User>> {
        let auth = &self.config.auth;
        let (Some(username), Some(password)) = (&auth.admin_username, &auth.admin_password) else {
            return Ok(None);
        };
        let registration = Registration {
            username: username.clone(),
            email: auth
                .admin_email
                .clone()
                .unwrap_or_else(|| format!("{}@trae.local", username.trim().to_lowercase())),
            password: password.expose().to_owned(),
            full_name: None,
        };
        self.identity
            .users
            .bootstrap_admin(registration, &RequestMeta::default())
            .await
    }
}

type Apis = (
    HealthApi,
    RuntimeApi,
    DiscoveryApi,
    PetsApi,
    (AuthApi, UsersApi, AdminApi, PolicyApi, AuditApi),
    TasksApi,
    MetricsApi,
    ApisApi,
    SecretsApi,
    BackupsApi,
    (ChannelsApi, PersonasApi, EvidenceApi, ContradictionsApi),
);

/// The assembled application: the endpoint to serve and its OpenAPI spec.
pub struct App {
    service: OpenApiService<Apis, ()>,
    max_body_bytes: u64,
    identity: Identity,
    trusted_proxies: Vec<ipnet::IpNet>,
    cors_origins: Vec<String>,
    history: Option<RequestRecorder>,
    request_stats: RequestStats,
    gateway: Arc<GatewayLimiter>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Builds the application over `state`.
    pub fn new(state: &AppState) -> Self {
        let identity = state.identity.clone();
        let discovery = DiscoveryApi::new(identity.clone());
        let apis = (
            HealthApi::new(state.store.clone(), identity.clone(), state.health.clone()),
            RuntimeApi::new(state.started_at, state.config.summary(), identity.clone()),
            discovery.clone(),
            PetsApi::new(state.store.pets(), identity.clone()),
            (
                AuthApi::new(identity.clone()),
                UsersApi::new(identity.clone()),
                AdminApi::new(identity.clone()),
                PolicyApi::new(identity.clone()),
                AuditApi::new(identity.clone()),
            ),
            TasksApi::new(state.store.tasks(), identity.clone()),
            MetricsApi::new(
                state.history.clone(),
                identity.clone(),
                state.metrics.clone(),
                state.alerts.clone(),
                state.config.metrics.open_to.clone(),
            ),
            ApisApi::new(state.apis.clone(), identity.clone()),
            SecretsApi::new(state.vault.clone()),
            BackupsApi::new(state.backups.clone(), identity.clone()),
            (
                ChannelsApi::new(state.store.channels(), identity.clone()),
                PersonasApi::new(state.store.personas(), identity.clone()),
                EvidenceApi::new(state.store.evidence(), identity.clone()),
                ContradictionsApi::new(
                    state
                        .store
                        .contradictions()
                        .with_authorizer(Arc::new(identity.rbac.clone())),
                    identity.clone(),
                ),
            ),
        );
        let service = OpenApiService::new(apis, "trae", env!("CARGO_PKG_VERSION")).description(
            "The trae backend API. Errors are always `{\"error\": {\"code\", \"message\"}}`.",
        );
        discovery.fill(&service.spec());
        Self {
            service,
            max_body_bytes: state.config.max_body_bytes,
            identity,
            trusted_proxies: state.config.auth.trusted_proxies.clone(),
            cors_origins: state.config.cors_origins.clone(),
            history: state.history.clone(),
            request_stats: state.request_stats.clone(),
            gateway: Arc::clone(&state.gateway),
        }
    }

    /// The OpenAPI document, as JSON.
    pub fn spec(&self) -> String {
        self.service.spec()
    }

    /// The endpoint serving the API, Swagger UI at `/docs` and the spec at `/openapi.json`.
    pub fn into_endpoint(self) -> impl Endpoint<Output = Response> {
        let spec = self.service.spec_endpoint();
        let docs = self.service.swagger_ui();
        let max_body_bytes = self.max_body_bytes;
        // Shared, not cloned per request: `Identity` holds every service by value.
        let identity = Arc::new(self.identity);
        // One API endpoint serves `/api/*` and `/metrics` (where scrapers expect it).
        let api = Arc::new(self.service.into_endpoint());
        Route::new()
            .nest_no_strip("/api", Arc::clone(&api))
            .at("/metrics", api)
            .nest("/docs", docs)
            .at("/openapi.json", spec)
            // Until the dashboard lands, the root leads to the API docs.
            .at("/", make_sync(|_| Redirect::temporary("/docs")))
            .data(Arc::clone(&identity))
            .with(BodyLimit::new(max_body_bytes))
            // Outside the body limit (a refused body is never read), inside CORS and the
            // request context (a refusal gets CORS headers, a request id and a log line).
            .with(GatewayLimit::new(self.gateway, identity))
            // Inside the request context, so a refused origin gets the JSON error shape.
            .with_if(
                !self.cors_origins.is_empty(),
                Cors::new()
                    .allow_origins(self.cors_origins.iter().map(String::as_str))
                    .allow_credentials(false)
                    .allow_headers(["authorization", "content-type", "x-api-key"])
                    .expose_headers([
                        "x-request-id",
                        "retry-after",
                        "location",
                        "ratelimit-limit",
                        "ratelimit-remaining",
                        "ratelimit-reset",
                        "ratelimit-policy",
                    ])
                    .max_age(600),
            )
            .with(
                RequestContext::new(&self.trusted_proxies)
                    .with_history(self.history)
                    .with_stats(self.request_stats),
            )
            .with(
                SetHeader::new()
                    .overriding(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
                    .overriding(header::X_FRAME_OPTIONS, "DENY")
                    .overriding(header::REFERRER_POLICY, "no-referrer"),
            )
    }
}
