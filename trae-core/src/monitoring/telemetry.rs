//! Names of the metrics trae records through the `metrics` facade.
//!
//! Recording costs next to nothing until a binary installs an exporter; these names are the
//! contract dashboards and alert rules rely on, so they live in one place.

/// Counter: events published on a bus, labelled by `source`.
pub const EVENTS_PUBLISHED: &str = "trae_events_published_total";
/// Counter: pet service operations, labelled by `op` and `outcome` (`ok` or an error code).
pub const PET_OPERATIONS: &str = "trae_pet_operations_total";
/// Histogram (seconds): duration of pet service operations, labelled by `op`.
pub const PET_OPERATION_SECONDS: &str = "trae_pet_operation_duration_seconds";
/// Counter: HTTP requests served, labelled by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "trae_http_requests_total";
/// Histogram (seconds): HTTP request latency, labelled by `method` and `route`.
pub const HTTP_REQUEST_SECONDS: &str = "trae_http_request_duration_seconds";
