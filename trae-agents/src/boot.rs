//! The composition root: [`Trae`] builds every trae service from a [`Config`], once.
//!
//! `trae serve`, `trae worker`, every CLI subcommand, `trae.Store` in Python and Rust
//! applications all start here, so each service is wired in exactly one place and the same
//! database behaves the same whichever way it is reached. It lives in trae-agents because
//! this is the one library crate above storage, identity and the outbound client (the agents
//! need all of them), and both bindings depend on it.
//!
//! Cheap services are built when the root opens; the ones that cost something or may fail
//! for reasons the caller may never hit are opened on first use and a failed open is not
//! remembered: the secrets vault (it needs the master key, which PostgreSQL requires to be
//! configured) and component health (it checks every component once).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;
use trae_auth::{
    Identity, KeySealer, MasterKey, MasterKeySource, Registration, RequestMeta, Vault,
};
use trae_core::apis::shared_quota::SharedQuota;
use trae_core::content::{Channels, Contradictions, EvidenceLibrary, Personas};
use trae_core::monitoring::request_history::{RequestHistoryOptions, RequestRecorder};
use trae_core::{
    Alerts, ApiRegistry, Config, Error, EventStream, GatewayLimiter, MetricSeries, NoopHandler,
    Pets, RateLimiter, RegistryOptions, RequestStats, Result, SecretReader, SecretString,
    TaskQueue, User, Worker, WorkerOptions,
};
use trae_storage::{Backups, HealthMonitor, ProcessMetrics, Store, StoreOptions};

use crate::solo::interviews::Interviews;
use crate::tdd::agent::{AgentSettings, TddAgent};
use crate::tdd::generation::{NewGeneration, TestGenerator};
use crate::tdd::runs::TddRuns;
use crate::tdd::task::TddRunHandler;
use crate::{
    GatewayOptions, HttpRequestHandler, ModelGateway, Orchestrator, OrchestratorOptions,
    OutboundClient, OutboundPolicy,
};

/// Every trae service over one database, built from one configuration. Cheap to clone.
#[derive(Clone)]
pub struct Trae {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Store,
    opened_at: DateTime<Utc>,
    identity: Identity,
    vault: Arc<VaultSlot>,
    apis: Orchestrator,
    models: ModelGateway,
    /// The outbound client of the orchestrator, shared with the worker's `http.request`.
    outbound: OutboundClient,
    health: OnceCell<HealthMonitor>,
    pets: Pets,
    tasks: TaskQueue,
    content: Content,
    backups: Backups,
    metrics: MetricSeries,
    request_stats: RequestStats,
    alerts: Alerts,
    history: Option<RequestRecorder>,
    gateway: Arc<GatewayLimiter>,
    events: Option<EventStream>,
    tdd: TddRuns,
    tdd_agent: TddAgent,
    test_generator: TestGenerator,
    interviews: Interviews,
}

/// The content services: channels, author personas, evidence and contradictions, each
/// deciding permissions through identity's RBAC.
#[derive(Debug, Clone)]
pub struct Content {
    /// Publishing channels.
    pub channels: Channels,
    /// Versioned author personas.
    pub personas: Personas,
    /// The evidence library with full-text search.
    pub evidence: EvidenceLibrary,
    /// The contradiction tracker.
    pub contradictions: Contradictions,
}

impl std::fmt::Debug for Trae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trae")
            .field("backend", &self.inner.store.backend().as_str())
            .finish_non_exhaustive()
    }
}

impl Trae {
    /// Opens the database `config` names (creating a SQLite file and applying migrations as
    /// needed) and builds every service over it.
    pub async fn open(config: Config) -> Result<Self> {
        Self::open_with(config, StoreOptions::default()).await
    }

    /// [`Trae::open`] with store options (a clock for tests, or no migrations); the event
    /// log is kept as `config` says.
    pub async fn open_with(config: Config, mut options: StoreOptions) -> Result<Self> {
        options.event_stream = options.event_stream.keeping(&config.events);
        let store = Store::connect_with(&config.database_url, options).await?;
        Self::with_store(config, store).await
    }

    /// Builds every service over an already open `store` (whose URL should be
    /// `config.database_url`). Starts the registry's attempt writer and the request-history
    /// writer on the current tokio runtime.
    pub async fn with_store(config: Config, store: Store) -> Result<Self> {
        let opened_at = store.clock().now();
        let vault = Arc::new(VaultSlot {
            cell: OnceCell::new(),
            config: config.clone(),
            store: store.clone(),
            identity: std::sync::OnceLock::new(),
        });
        // The signing keys are sealed by the vault's master key and opened on first use, so
        // a process that never touches a token needs no master key.
        let identity = Identity::open(
            store.identity_repos(),
            &config.auth,
            config.jwt_secret.as_ref().map(SecretString::expose),
            store.shared_settings(),
            Arc::new(VaultSealer(Arc::downgrade(&vault))),
            store.clock(),
        )?;
        let _ = vault.identity.set(identity.clone());
        if config.jwt_secret.is_none()
            && master_key_at_hand(&config)
            && let Err(e) = identity.sessions.tokens().prepare().await
        {
            // Best effort: this seals a plaintext key from before issue 19 in place at open
            // when the master key is there without creating anything. A wrong key is not
            // this open's business: the first token use (or secret) reports it.
            tracing::warn!(error = %e, "cannot open the JWT signing keys yet");
        }
        let rbac: Arc<dyn trae_core::identity::permission::Authorizer> =
            Arc::new(identity.rbac.clone());
        let registry = ApiRegistry::start(
            store.api_repository(),
            store.clock(),
            store.events(),
            RegistryOptions::default(),
        )
        .with_audit(identity.audit.clone())
        .with_authorizer(Arc::clone(&rbac))
        .with_secrets(Arc::clone(&vault) as Arc<dyn SecretReader>)
        .with_url_policy(Arc::new(OutboundPolicy::from_config(&config.outbound)));
        let client = OutboundClient::from_config(&config.outbound)
            .map_err(|e| Error::Config(e.to_string()))?;
        let apis = Orchestrator::new(
            registry,
            client.clone(),
            Arc::new(RateLimiter::new(store.clock())),
            Arc::clone(&vault) as Arc<dyn SecretReader>,
            OrchestratorOptions::default(),
        )
        .with_shared_quota(SharedQuota::new(store.quota_repository(), store.clock()));
        let h = config.request_history;
        let history = (h.percent > 0).then(|| {
            RequestRecorder::start(
                store.request_history_repository(),
                store.clock(),
                RequestHistoryOptions {
                    sample_rate: f64::from(h.percent) / 100.0,
                    retention: Duration::from_secs(u64::from(h.retention_days) * 86_400),
                    max_rows: u64::from(h.max_rows),
                    ..RequestHistoryOptions::default()
                },
            )
            .with_authorizer(Arc::clone(&rbac))
        });
        let gateway = Arc::new(GatewayLimiter::new(&config.rate_limit, store.clock())?);
        let backups = Backups::new(config.database_url.clone(), config.backup.clone())
            .with_events(store.events())
            .with_audit(identity.audit.clone())
            .with_authorizer(Arc::clone(&rbac));
        let request_stats = RequestStats::new();
        let metrics = MetricSeries::new(store.metric_repository(), store.clock())
            .with_authorizer(Arc::clone(&rbac));
        metrics.add_source(Arc::new(request_stats.clone()));
        metrics.add_source(Arc::new(store.tasks()));
        metrics.add_source(Arc::new(apis.registry().clone()));
        metrics.add_source(Arc::new(ProcessMetrics::new(config.data_dir.clone())));
        let alerts = Alerts::new(
            store.alert_repository(),
            store.clock(),
            store.events(),
            Some(identity.audit.clone()),
            Some(store.tasks()),
        )
        .with_authorizer(Arc::clone(&rbac));
        let events = store
            .event_stream()
            .map(|stream| stream.with_authorizer(Arc::clone(&rbac)));
        let content = Content {
            channels: store.channels().with_authorizer(Arc::clone(&rbac)),
            personas: store.personas().with_authorizer(Arc::clone(&rbac)),
            evidence: store.evidence().with_authorizer(Arc::clone(&rbac)),
            contradictions: store.contradictions().with_authorizer(Arc::clone(&rbac)),
        };
        let models = ModelGateway::new(
            apis.clone(),
            GatewayOptions {
                log_content: config.llm_log_content,
            },
        )
        .with_personas(content.personas.clone());
        let tasks = store
            .tasks()
            .with_authorizer(Arc::clone(&rbac))
            .with_kind_permission(crate::http_task::KIND, trae_core::APIS_CALL)
            .with_kind_permission(crate::tdd::runs::TASK_KIND, trae_core::AGENTS_RUN)
            .with_max_backlog(Some(u64::from(config.tasks.max_backlog)));
        let tdd = TddRuns::new(
            store.tdd_repository(),
            tasks.clone(),
            trae_core::identity::permission::Gate::new(Arc::clone(&rbac)),
            store.clock(),
            config.agent_workspaces.clone(),
        );
        let agent_settings = AgentSettings {
            writable: config.agent_writable.clone(),
            ..AgentSettings::default()
        };
        let test_generator = TestGenerator::new(
            trae_core::identity::permission::Gate::new(Arc::clone(&rbac)),
            config.agent_workspaces.clone(),
            store.events(),
            store.clock(),
            agent_settings.clone(),
        );
        let interviews = Interviews::new(
            store.interview_repository(),
            trae_core::identity::permission::Gate::new(Arc::clone(&rbac)),
            store.events(),
            store.clock(),
            models.clone(),
        );
        let tdd_agent = TddAgent::new(
            store.tdd_repository(),
            store.events(),
            store.clock(),
            agent_settings,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                models,
                pets: store.pets().with_authorizer(Arc::clone(&rbac)),
                tasks,
                tdd,
                tdd_agent,
                test_generator,
                interviews,
                content,
                config,
                store,
                opened_at,
                identity,
                vault,
                apis,
                outbound: client,
                health: OnceCell::new(),
                backups,
                metrics,
                request_stats,
                alerts,
                history,
                gateway,
                events,
            }),
        })
    }

    /// TDD agent runs: create, list, get, diff, cancel, accept.
    pub fn tdd(&self) -> &TddRuns {
        &self.inner.tdd
    }

    /// The TDD agent that executes runs (the worker's `tdd.run` handler uses it; the CLI runs
    /// it in-process).
    pub fn tdd_agent(&self) -> &TddAgent {
        &self.inner.tdd_agent
    }

    /// Creates a TDD run and executes it here, acting for `principal`, to its end (the CLI's
    /// `trae tdd run` and Python's `store.tdd.run`; the server queues runs for a worker
    /// instead). `cancel` stops it.
    pub async fn run_tdd(
        &self,
        principal: &trae_core::Principal,
        new: crate::NewRun,
        cancel: tokio_util::sync::CancellationToken,
    ) -> std::result::Result<trae_core::TddRun, crate::AgentError> {
        let run = self.inner.tdd.prepare(principal, new).await?;
        let model = self.inner.models.acting_for(principal.clone());
        self.inner.tdd_agent.execute(run.id, model, cancel).await
    }

    /// SOLO genesis interviews: start, answer, revise, read, specs.
    pub fn interviews(&self) -> &Interviews {
        &self.inner.interviews
    }

    /// The test generator (see [`TestGenerator::apply`] to write what it kept).
    pub fn test_generator(&self) -> &TestGenerator {
        &self.inner.test_generator
    }

    /// Generates tests acting for `principal`, with the models it may use (see
    /// [`TestGenerator::generate`]).
    pub async fn generate_tests(
        &self,
        principal: &trae_core::Principal,
        new: NewGeneration,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> std::result::Result<trae_core::Generation, crate::AgentError> {
        let model = self.inner.models.acting_for(principal.clone());
        self.inner
            .test_generator
            .generate(principal, new, model, cancel)
            .await
    }

    /// Replays a run the principal may see (see [`crate::TddAgent::replay`]).
    pub async fn replay_tdd(
        &self,
        principal: &trae_core::Principal,
        id: uuid::Uuid,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> std::result::Result<crate::Replay, crate::AgentError> {
        self.inner.tdd.get(principal, id).await?;
        self.inner.tdd_agent.replay(id, cancel).await
    }

    /// The configuration the services were built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The open database and its repositories.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// When this root was opened.
    pub fn opened_at(&self) -> DateTime<Utc> {
        self.inner.opened_at
    }

    /// Identity and access: accounts, sessions, RBAC, API keys, users, policy, audit.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The secrets vault, opened on first use with the master key [`MasterKeySource::from_config`]
    /// names; a failed open (no `TRAE_MASTER_KEY` on PostgreSQL, a wrong key) is returned and
    /// not remembered.
    pub async fn vault(&self) -> Result<&Vault> {
        self.inner.vault.get().await
    }

    /// The external API orchestrator, with the registry it routes from
    /// ([`Orchestrator::registry`]). Credentials come from the vault when a call needs them.
    pub fn apis(&self) -> &Orchestrator {
        &self.inner.apis
    }

    /// The model gateway: chats with language models through the `llm.chat` endpoints of
    /// the API registry.
    pub fn models(&self) -> &ModelGateway {
        &self.inner.models
    }

    /// The task queue, deciding permissions through identity's RBAC.
    pub fn tasks(&self) -> TaskQueue {
        self.inner.tasks.clone()
    }

    /// The example pets service.
    pub fn pets(&self) -> &Pets {
        &self.inner.pets
    }

    /// The content services.
    pub fn content(&self) -> &Content {
        &self.inner.content
    }

    /// Backups of the database into `config.backup.dir`.
    pub fn backups(&self) -> &Backups {
        &self.inner.backups
    }

    /// Sampled metric series: HTTP requests, the queue, external APIs and the process.
    pub fn metrics(&self) -> &MetricSeries {
        &self.inner.metrics
    }

    /// Per-route request figures of the current sampling window, fed by the HTTP server.
    pub fn request_stats(&self) -> &RequestStats {
        &self.inner.request_stats
    }

    /// Alert rules over [`Trae::metrics`].
    pub fn alerts(&self) -> &Alerts {
        &self.inner.alerts
    }

    /// Where served requests are recorded (`None` when `TRAE_REQUEST_HISTORY_PERCENT` is 0).
    pub fn history(&self) -> Option<&RequestRecorder> {
        self.inner.history.as_ref()
    }

    /// The event stream: every service's events from the event log, as pages or followed
    /// live, each topic under its permission. Unavailable on a database without the event
    /// log (opened without migrations).
    pub fn events(&self) -> Result<&EventStream> {
        self.inner.events.as_ref().ok_or_else(|| {
            Error::Unavailable(
                "this database has no event log yet: apply the migrations (trae migrate up)".into(),
            )
        })
    }

    /// Per-client limits on incoming requests (`TRAE_RATE_LIMIT*`).
    pub fn gateway(&self) -> &Arc<GatewayLimiter> {
        &self.inner.gateway
    }

    /// Component health, opened on first use: the built-in components checked once, and
    /// every registered external API reported as an optional component `api:<name>`.
    pub async fn health(&self) -> Result<&HealthMonitor> {
        self.inner
            .health
            .get_or_try_init(|| async {
                let monitor = HealthMonitor::open(
                    &self.inner.store,
                    self.inner.config.health,
                    self.inner.config.data_dir.clone(),
                    Some(self.inner.identity.audit.clone()),
                )
                .await?
                .with_authorizer(Arc::new(self.inner.identity.rbac.clone()));
                self.inner.apis.report_checks_to(monitor.health().clone());
                Ok(monitor)
            })
            .await
    }

    /// A task worker over `queues` running `concurrency` tasks at once, with the built-in
    /// kinds `noop` and `http.request` (URL calls as `config.outbound` allows, capability
    /// calls through [`Trae::apis`]) and the recurring schedules of `trae.toml`.
    pub fn worker(&self, queues: Vec<String>, concurrency: usize) -> Result<Worker> {
        let config = &self.inner.config;
        let retention = match config.tasks.retention_hours {
            0 => None,
            hours => Some(Duration::from_secs(u64::from(hours) * 3600)),
        };
        let schedules = config
            .tasks
            .schedules
            .iter()
            .map(trae_core::ScheduleConfig::schedule)
            .collect::<Result<Vec<_>>>()?;
        let options = WorkerOptions {
            queues,
            concurrency,
            lease: Duration::from_secs(u64::from(config.tasks.lease_secs)),
            retention,
            schedules,
            ..WorkerOptions::default()
        };
        let mut worker = Worker::new(self.tasks(), options)?;
        worker.register("noop", NoopHandler)?;
        worker.register(
            crate::http_task::KIND,
            HttpRequestHandler::new(self.inner.outbound.clone())
                .with_orchestrator(self.inner.apis.clone()),
        )?;
        worker.register(
            crate::tdd::runs::TASK_KIND,
            TddRunHandler::new(
                self.inner.tdd_agent.clone(),
                self.inner.models.clone(),
                self.inner.store.identity_repos().users,
            ),
        )?;
        Ok(worker)
    }

    /// Creates the first admin from `TRAE_ADMIN_USERNAME` and `TRAE_ADMIN_PASSWORD` when both
    /// are set and no active admin exists; returns the user created.
    pub async fn bootstrap_admin(&self) -> Result<Option<User>> {
        let auth = &self.inner.config.auth;
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
        self.inner
            .identity
            .users
            .bootstrap_admin(registration, &RequestMeta::default())
            .await
    }

    /// Writes what is queued (API attempts, request history), hands back unspent shared
    /// rate-limit allowances, and closes the database. Later calls fail.
    pub async fn close(&self) {
        self.inner.apis.shutdown().await;
        if let Some(history) = &self.inner.history {
            history.flush().await;
        }
        self.inner.store.close().await;
    }
}

/// Whether the master key can be had without creating one: configured, or an existing key
/// file.
fn master_key_at_hand(config: &Config) -> bool {
    match MasterKeySource::from_config(config) {
        Ok(MasterKeySource::Configured(_)) => true,
        Ok(MasterKeySource::KeyFile(path)) => path.exists(),
        Ok(MasterKeySource::Ephemeral) | Err(_) => false,
    }
}

/// The vault, opened on first use; the orchestrator reads credentials through it and the
/// signing keys are sealed by its master key, so a process that never injects a credential
/// nor touches a token never needs the master key.
struct VaultSlot {
    cell: OnceCell<Vault>,
    config: Config,
    store: Store,
    /// Set right after identity is built (identity seals its keys through this slot).
    identity: std::sync::OnceLock<Identity>,
}

impl VaultSlot {
    async fn get(&self) -> Result<&Vault> {
        self.cell
            .get_or_try_init(|| async {
                let source = MasterKeySource::from_config(&self.config)?;
                let vault =
                    Vault::open(self.store.secret_repository(), &source, self.store.clock())
                        .await?;
                let Some(identity) = self.identity.get() else {
                    return Ok(vault);
                };
                let vault = vault
                    .with_audit(identity.audit.clone())
                    .with_rbac(identity.rbac.clone());
                Ok(match identity.sessions.tokens().signing_keys() {
                    Some(keys) => vault.with_signing_keys(keys.clone()),
                    None => vault,
                })
            })
            .await
    }
}

/// Identity's way to the vault's master key. Weak, because the vault slot holds identity:
/// a strong reference both ways would keep every closed root alive.
struct VaultSealer(std::sync::Weak<VaultSlot>);

#[async_trait]
impl KeySealer for VaultSealer {
    async fn master_key(&self) -> Result<Arc<MasterKey>> {
        let slot = self
            .0
            .upgrade()
            .ok_or_else(|| Error::Config("this trae root was closed".into()))?;
        slot.get().await?.master_key().await
    }
}

#[async_trait]
impl SecretReader for VaultSlot {
    async fn bind_secret(
        &self,
        principal: &trae_core::Principal,
        name: &str,
    ) -> Result<trae_core::SecretBinding> {
        // Without the RBAC the decision would be "anyone may": refuse until the root is built.
        let identity = self
            .identity
            .get()
            .ok_or_else(|| Error::Config("the trae root is still starting".into()))?;
        trae_auth::vault::bind_secret(
            Some(&identity.rbac),
            &*self.store.secret_repository(),
            principal,
            name,
        )
        .await
    }

    async fn read_secret(&self, binding: &trae_core::SecretBinding) -> Result<SecretString> {
        self.get().await?.read_secret(binding).await
    }
}
