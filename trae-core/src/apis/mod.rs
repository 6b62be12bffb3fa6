//! External APIs: endpoints and their registry, routing and failover, rate limits (per endpoint, shared across nodes, and per client at the gateway).

pub mod api_endpoint;
pub mod api_registry;
pub mod api_routing;
pub mod client_ip;
pub mod gateway_limit;
pub mod rate_limit;
pub mod shared_quota;
