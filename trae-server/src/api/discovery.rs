//! `/api/discovery`: every route this server offers, read from the OpenAPI registry.

use std::sync::{Arc, OnceLock};

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use trae_core::MetricSeries;

use super::ApiTags;
use crate::ApiError;
use crate::credentials::Auth;

/// One route of the API.
#[derive(Debug, Clone, Object)]
pub struct RouteInfo {
    /// The HTTP method, uppercase.
    pub method: String,
    /// The path template, e.g. `/api/pets/{id}`.
    pub path: String,
    /// The operation's one-line summary.
    pub summary: String,
    /// The tag (router) it belongs to.
    pub tag: String,
    /// The operation id.
    pub operation_id: String,
}

/// One service (router) and how many routes it has.
#[derive(Debug, Clone, Object)]
pub struct ServiceInfo {
    /// The tag naming the service.
    pub name: String,
    /// What it does.
    pub description: String,
    /// How many routes it has.
    pub routes: u32,
}

/// Everything the server offers.
#[derive(Debug, Clone, Object)]
pub struct Discovery {
    /// Every route, sorted by path then method.
    pub routes: Vec<RouteInfo>,
    /// Every service.
    pub services: Vec<ServiceInfo>,
}

/// The discovery router. Its catalogue is filled once the whole API (itself included) is
/// assembled, from that API's own spec.
#[derive(Debug, Clone)]
pub struct DiscoveryApi {
    catalogue: Arc<OnceLock<Discovery>>,
    metrics: MetricSeries,
}

impl DiscoveryApi {
    /// A router whose catalogue is read from `spec` later, with [`DiscoveryApi::fill`];
    /// `metrics` decides who may read it (whoever may read operational figures).
    pub fn new(metrics: MetricSeries) -> Self {
        Self {
            catalogue: Arc::default(),
            metrics,
        }
    }

    /// Reads the catalogue from the OpenAPI spec (JSON) of the assembled API.
    pub fn fill(&self, spec: &str) {
        let _ = self.catalogue.set(catalogue_of(spec));
    }
}

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// Builds the catalogue from an OpenAPI document.
pub fn catalogue_of(spec: &str) -> Discovery {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let mut routes = Vec::new();
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                let op = &item[method];
                if op.is_object() {
                    routes.push(RouteInfo {
                        method: method.to_uppercase(),
                        path: path.clone(),
                        summary: text(&op["summary"]),
                        tag: text(&op["tags"][0]),
                        operation_id: text(&op["operationId"]),
                    });
                }
            }
        }
    }
    routes.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
    let services = spec["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|tag| {
                    let name = text(&tag["name"]);
                    let count = routes.iter().filter(|r| r.tag == name).count();
                    ServiceInfo {
                        description: text(&tag["description"]),
                        routes: u32::try_from(count).unwrap_or(u32::MAX),
                        name,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Discovery { routes, services }
}

#[OpenApi(tag = "ApiTags::Discovery")]
impl DiscoveryApi {
    /// Every route and service of this server
    #[oai(path = "/api/discovery", method = "get", operation_id = "discovery")]
    async fn discovery(&self, auth: Auth) -> Result<Json<Discovery>, ApiError> {
        self.metrics.readable_by(auth.principal()).await?;
        Ok(Json(self.catalogue.get().cloned().unwrap_or(Discovery {
            routes: vec![],
            services: vec![],
        })))
    }
}
