//! Assembling the HTTP application: the routers, Swagger UI, the spec, and the middleware.

use std::sync::Arc;

use poem::endpoint::make_sync;
use poem::middleware::Cors;
use poem::web::{Html, Redirect};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::OpenApiService;
use tokio_util::sync::CancellationToken;
use trae_agents::Trae;
use trae_auth::Identity;
use trae_core::monitoring::request_history::RequestRecorder;
use trae_core::{GatewayLimiter, RequestStats};

use crate::allowed_methods::AllowedMethods;
use crate::api::admin::AdminApi;
use crate::api::apis::ApisApi;
use crate::api::audit::AuditApi;
use crate::api::auth::AuthApi;
use crate::api::backups::BackupsApi;
use crate::api::channels::ChannelsApi;
use crate::api::contradictions::ContradictionsApi;
use crate::api::discovery::DiscoveryApi;
use crate::api::events::EventsApi;
use crate::api::evidence::EvidenceApi;
use crate::api::health::HealthApi;
use crate::api::llm::LlmApi;
use crate::api::metrics::MetricsApi;
use crate::api::personas::PersonasApi;
use crate::api::pets::PetsApi;
use crate::api::policy::PolicyApi;
use crate::api::runtime::RuntimeApi;
use crate::api::secrets::SecretsApi;
use crate::api::solo::SoloApi;
use crate::api::tasks::TasksApi;
use crate::api::tdd::TddApi;
use crate::api::users::UsersApi;
use crate::body_limit::BodyLimit;
use crate::cross_origin::CrossOrigin;
use crate::event_socket::{EventSocket, SocketOptions, events_socket};
use crate::gateway_limit::GatewayLimit;
use crate::request_context::RequestContext;
use crate::request_data::RequestData;
use crate::site::Site;

type Apis = (
    HealthApi,
    RuntimeApi,
    DiscoveryApi,
    PetsApi,
    (AuthApi, UsersApi, AdminApi, PolicyApi, AuditApi),
    (TasksApi, EventsApi),
    MetricsApi,
    (ApisApi, LlmApi, TddApi, SoloApi),
    SecretsApi,
    BackupsApi,
    (ChannelsApi, PersonasApi, EvidenceApi, ContradictionsApi),
);

/// The assembled application: the endpoint to serve and its OpenAPI spec.
pub struct App {
    service: OpenApiService<Apis, ()>,
    /// The spec as served (see [`crate::spec`]).
    spec: String,
    max_body_bytes: u64,
    identity: Identity,
    trusted_proxies: Vec<ipnet::IpNet>,
    cors_origins: Vec<String>,
    history: Option<RequestRecorder>,
    request_stats: RequestStats,
    gateway: Arc<GatewayLimiter>,
    events: Option<trae_core::EventStream>,
    socket_options: SocketOptions,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// The Swagger UI page showing `spec`, built on each visit rather than kept: it carries
/// Swagger UI's 1.6 MB of script and style, which a server held from its start (twice that in
/// memory touched) whether anyone opened the page or not (issue 20, idle memory).
fn docs_page(spec: &str) -> String {
    // Swagger UI embeds the document it shows: an empty service's page, with the served
    // document in place of the empty one.
    let empty = OpenApiService::new((), "trae", env!("CARGO_PKG_VERSION"));
    empty.swagger_ui_html().replacen(&empty.spec(), spec, 1)
}

impl App {
    /// Builds the application over the services of `trae`. The server's own parts (the
    /// secrets vault and component health, opened on first use elsewhere) are opened here, so
    /// a wrong master key or an unreadable database fails before anything is served.
    pub async fn new(trae: &Trae) -> trae_core::Result<Self> {
        // Installed before the first request, so every metric is recorded.
        crate::prometheus::handle();
        let identity = trae.identity().clone();
        let config = trae.config();
        let discovery = DiscoveryApi::new(trae.metrics().clone());
        let apis = (
            HealthApi::new(trae.store().clone(), trae.health().await?.clone()),
            RuntimeApi::new(trae.opened_at(), config.summary(), trae.metrics().clone()),
            discovery.clone(),
            PetsApi::new(trae.pets().clone()),
            (
                AuthApi::new(identity.clone()),
                UsersApi::new(identity.clone()),
                AdminApi::new(identity.clone()),
                PolicyApi::new(identity.clone()),
                AuditApi::new(identity.clone()),
            ),
            (
                TasksApi::new(trae.tasks()),
                EventsApi::new(trae.events().ok().cloned()),
            ),
            MetricsApi::new(
                trae.history().cloned(),
                trae.metrics().clone(),
                trae.alerts().clone(),
                config.metrics.open_to.clone(),
            ),
            (
                ApisApi::new(trae.apis().clone()),
                LlmApi::new(trae.models().clone(), trae.store().clock()),
                TddApi::new(trae.tdd().clone()),
                SoloApi::new(trae.interviews().clone()),
            ),
            SecretsApi::new(trae.vault().await?.clone()),
            BackupsApi::new(trae.backups().clone()),
            (
                ChannelsApi::new(trae.content().channels.clone()),
                PersonasApi::new(trae.content().personas.clone()),
                EvidenceApi::new(trae.content().evidence.clone()),
                ContradictionsApi::new(trae.content().contradictions.clone()),
            ),
        );
        let service = OpenApiService::new(apis, "trae", env!("CARGO_PKG_VERSION")).description(
            "The trae backend API. Errors are always `{\"error\": {\"code\", \"message\"}}`.",
        );
        let spec = crate::spec::finish(&service.spec());
        discovery.fill(&spec);
        Ok(Self {
            service,
            spec,
            max_body_bytes: config.max_body_bytes,
            identity,
            trusted_proxies: config.auth.trusted_proxies.clone(),
            cors_origins: config.cors_origins.clone(),
            history: trae.history().cloned(),
            request_stats: trae.request_stats().clone(),
            gateway: Arc::clone(trae.gateway()),
            events: trae.events().ok().cloned(),
            socket_options: SocketOptions::for_session_cache(config.auth.session_cache_secs),
            shutdown: CancellationToken::new(),
        })
    }

    /// Cancelled to close every event socket (with 1001) when the server stops.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The OpenAPI document, as JSON.
    pub fn spec(&self) -> String {
        self.spec.clone()
    }

    /// The endpoint serving the API, Swagger UI at `/docs` and the spec at `/openapi.json`.
    pub fn into_endpoint(self) -> impl Endpoint<Output = Response> {
        let allowed = serde_json::from_str(&self.spec)
            .map(|spec| AllowedMethods::from_spec(&spec))
            .unwrap_or_else(|_| AllowedMethods::from_spec(&serde_json::Value::Null));
        let spec: Arc<str> = Arc::from(self.spec);
        let docs = Route::new().at(
            "/",
            make_sync({
                let spec = Arc::clone(&spec);
                move |_| Html(docs_page(&spec))
            }),
        );
        let spec = make_sync(move |_| {
            Response::builder()
                .content_type("application/json")
                .body(spec.to_string())
        });
        let max_body_bytes = self.max_body_bytes;
        // Shared, not cloned per request: `Identity` holds every service by value.
        let identity = Arc::new(self.identity);
        // One API endpoint serves `/api/*` and `/metrics` (where scrapers expect it).
        let api = self.service.into_endpoint();
        let cors = (!self.cors_origins.is_empty()).then(|| {
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
                .max_age(600)
        });
        // trae's layers are not `async fn`s: each passes the inner future on (mapped at
        // most), so the stack adds little to a request's future. Async layers each held
        // copies of the request, and the nested whole (10 KiB) was copied at every box;
        // that was a third of the stack's CPU (issue 20, `stack_overhead` bench). For the
        // same reason the API is not nested in poem's router (see `site`).
        let socket = EventSocket::new(
            self.events,
            Arc::clone(&identity),
            self.socket_options,
            self.shutdown,
        );
        let rest = Route::new()
            .nest("/docs", docs)
            .at("/ws/events", poem::get(events_socket.data(socket)))
            .at("/openapi.json", spec)
            // Until the dashboard lands, the root leads to the API docs.
            .at("/", make_sync(|_| Redirect::temporary("/docs")));
        Site::new(api, rest)
            .with(RequestData::new(Arc::clone(&identity)))
            .with(allowed)
            .with(BodyLimit::new(max_body_bytes))
            // Outside the body limit (a refused body is never read), inside CORS and the
            // request context (a refusal gets CORS headers, a request id and a log line).
            .with(GatewayLimit::new(self.gateway, identity))
            // Inside the request context, so a refused origin gets the JSON error shape.
            .with(CrossOrigin::new(cors))
            // Also limits the header size and sets the security headers, folded in here
            // rather than two more layers.
            .with(
                RequestContext::new(&self.trusted_proxies)
                    .with_history(self.history)
                    .with_stats(self.request_stats),
            )
    }
}
