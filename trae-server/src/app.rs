//! Assembling the HTTP application: the routers, Swagger UI, the spec, and the middleware.

use chrono::{DateTime, Utc};
use poem::endpoint::make_sync;
use poem::web::Redirect;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::OpenApiService;
use trae_core::Config;
use trae_storage::Store;

use crate::api::discovery::DiscoveryApi;
use crate::api::health::HealthApi;
use crate::api::pets::PetsApi;
use crate::api::runtime::RuntimeApi;
use crate::body_limit::BodyLimit;
use crate::request_context::RequestContext;

/// What the application serves from.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The open database.
    pub store: Store,
    /// When the process started.
    pub started_at: DateTime<Utc>,
}

type Apis = (HealthApi, RuntimeApi, DiscoveryApi, PetsApi);

/// The assembled application: the endpoint to serve and its OpenAPI spec.
pub struct App {
    service: OpenApiService<Apis, ()>,
    max_body_bytes: u64,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Builds the application over `state`.
    pub fn new(state: &AppState) -> Self {
        let discovery = DiscoveryApi::new();
        let apis = (
            HealthApi::new(state.store.clone()),
            RuntimeApi::new(state.started_at, state.config.summary()),
            discovery.clone(),
            PetsApi::new(state.store.pets()),
        );
        let service = OpenApiService::new(apis, "trae", env!("CARGO_PKG_VERSION")).description(
            "The trae backend API. Errors are always `{\"error\": {\"code\", \"message\"}}`.",
        );
        discovery.fill(&service.spec());
        Self {
            service,
            max_body_bytes: state.config.max_body_bytes,
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
        Route::new()
            .nest_no_strip("/api", self.service.into_endpoint())
            .nest("/docs", docs)
            .at("/openapi.json", spec)
            // Until the dashboard lands, the root leads to the API docs.
            .at("/", make_sync(|_| Redirect::temporary("/docs")))
            .with(BodyLimit::new(max_body_bytes))
            .with(RequestContext)
    }
}
