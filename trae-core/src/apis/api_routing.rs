//! Which endpoint of a capability a call tries first: the routing strategies and the
//! per-endpoint load they read.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::apis::api_endpoint::ApiEndpoint;
use crate::{Error, Result};

/// How the orchestrator orders the callable endpoints of a capability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStrategy {
    /// Lowest `priority` first, then name.
    #[default]
    Priority,
    /// Fewest calls in flight on this node first, then priority.
    LeastLoaded,
    /// Each call starts at the next endpoint in priority order.
    RoundRobin,
    /// Lowest recent latency (moving average) first; endpoints never called go first.
    LowestLatency,
}

impl RoutingStrategy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::LeastLoaded => "least_loaded",
            Self::RoundRobin => "round_robin",
            Self::LowestLatency => "lowest_latency",
        }
    }
}

impl FromStr for RoutingStrategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "priority" => Ok(Self::Priority),
            "least_loaded" => Ok(Self::LeastLoaded),
            "round_robin" => Ok(Self::RoundRobin),
            "lowest_latency" => Ok(Self::LowestLatency),
            other => Err(Error::validation(
                "strategy",
                format!(
                    "unknown strategy {other:?}; use priority, least_loaded, round_robin or \
                     lowest_latency"
                ),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Load {
    in_flight: u32,
    latency_ewma_ms: Option<f64>,
}

/// This node's view of each endpoint's load: calls in flight and a moving average of
/// latency.
#[derive(Debug, Default)]
pub struct EndpointLoads {
    loads: Mutex<HashMap<String, Load>>,
    turn: AtomicU64,
}

/// Weight of the newest latency in the moving average.
const EWMA_WEIGHT: f64 = 0.3;

/// Marks a call in flight until dropped.
#[derive(Debug)]
pub struct InFlight<'a> {
    loads: &'a EndpointLoads,
    endpoint: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut loads = self.loads.lock();
        if let Some(l) = loads.get_mut(&self.endpoint) {
            l.in_flight = l.in_flight.saturating_sub(1);
        }
    }
}

impl EndpointLoads {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Load>> {
        self.loads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a call to `endpoint` in flight until the guard drops.
    pub fn start(&self, endpoint: &str) -> InFlight<'_> {
        self.lock()
            .entry(endpoint.to_owned())
            .or_default()
            .in_flight += 1;
        InFlight {
            loads: self,
            endpoint: endpoint.to_owned(),
        }
    }

    /// Adds a latency sample for `endpoint`.
    pub fn observe_latency(&self, endpoint: &str, latency_ms: f64) {
        let mut loads = self.lock();
        let l = loads.entry(endpoint.to_owned()).or_default();
        l.latency_ewma_ms = Some(match l.latency_ewma_ms {
            None => latency_ms,
            Some(avg) => avg + EWMA_WEIGHT * (latency_ms - avg),
        });
    }

    /// Calls in flight to `endpoint`.
    pub fn in_flight(&self, endpoint: &str) -> u32 {
        self.lock().get(endpoint).map_or(0, |l| l.in_flight)
    }

    /// Orders `endpoints` (already filtered to the callable ones) for one call.
    pub fn order(&self, endpoints: &mut [ApiEndpoint], strategy: RoutingStrategy) {
        let by_priority = |a: &ApiEndpoint, b: &ApiEndpoint| {
            (a.spec.priority, &a.spec.name).cmp(&(b.spec.priority, &b.spec.name))
        };
        endpoints.sort_by(by_priority);
        match strategy {
            RoutingStrategy::Priority => {}
            RoutingStrategy::RoundRobin => {
                if !endpoints.is_empty() {
                    let turn = self.turn.fetch_add(1, Ordering::Relaxed);
                    let start = (turn % endpoints.len() as u64) as usize;
                    endpoints.rotate_left(start);
                }
            }
            RoutingStrategy::LeastLoaded => {
                let loads = self.lock();
                let load = |e: &ApiEndpoint| loads.get(e.name()).map_or(0, |l| l.in_flight);
                endpoints.sort_by(|a, b| load(a).cmp(&load(b)).then_with(|| by_priority(a, b)));
            }
            RoutingStrategy::LowestLatency => {
                let loads = self.lock();
                let latency = |e: &ApiEndpoint| {
                    loads
                        .get(e.name())
                        .and_then(|l| l.latency_ewma_ms)
                        .unwrap_or(0.0)
                };
                endpoints.sort_by(|a, b| {
                    latency(a)
                        .total_cmp(&latency(b))
                        .then_with(|| by_priority(a, b))
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HealthStatus;
    use crate::apis::api_endpoint::ApiEndpointSpec;

    fn endpoint(name: &str, priority: i32) -> ApiEndpoint {
        let mut spec = ApiEndpointSpec::new(name, "cap", "http://h");
        spec.priority = priority;
        let now = chrono::Utc::now();
        ApiEndpoint {
            spec,
            secret_binding: None,
            health: HealthStatus::Healthy,
            consecutive_failures: 0,
            last_check_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn names(endpoints: &[ApiEndpoint]) -> Vec<&str> {
        endpoints.iter().map(|e| e.name()).collect()
    }

    fn three() -> Vec<ApiEndpoint> {
        vec![endpoint("c", 2), endpoint("a", 1), endpoint("b", 1)]
    }

    #[test]
    fn priority_then_name() {
        let loads = EndpointLoads::default();
        let mut e = three();
        loads.order(&mut e, RoutingStrategy::Priority);
        assert_eq!(names(&e), ["a", "b", "c"]);
    }

    #[test]
    fn round_robin_rotates_the_start() {
        let loads = EndpointLoads::default();
        let firsts: Vec<String> = (0..4)
            .map(|_| {
                let mut e = three();
                loads.order(&mut e, RoutingStrategy::RoundRobin);
                e[0].name().to_owned()
            })
            .collect();
        assert_eq!(firsts, ["a", "b", "c", "a"]);
    }

    #[test]
    fn least_loaded_and_lowest_latency() {
        let loads = EndpointLoads::default();
        let _busy = loads.start("a");
        let mut e = three();
        loads.order(&mut e, RoutingStrategy::LeastLoaded);
        assert_eq!(names(&e), ["b", "c", "a"]);
        drop(_busy);
        assert_eq!(loads.in_flight("a"), 0);

        loads.observe_latency("a", 50.0);
        loads.observe_latency("b", 5.0);
        loads.observe_latency("c", 20.0);
        let mut e = three();
        loads.order(&mut e, RoutingStrategy::LowestLatency);
        assert_eq!(names(&e), ["b", "c", "a"]);
        loads.observe_latency("a", 0.0);
        loads.observe_latency("a", 0.0);
        loads.observe_latency("a", 0.0);
        loads.observe_latency("a", 0.0);
        let mut e = three();
        loads.order(&mut e, RoutingStrategy::LowestLatency);
        assert_eq!(names(&e)[0], "b", "a moving average, not the last sample");
    }

    #[test]
    fn strategies_parse() {
        for s in [
            RoutingStrategy::Priority,
            RoutingStrategy::LeastLoaded,
            RoutingStrategy::RoundRobin,
            RoutingStrategy::LowestLatency,
        ] {
            assert_eq!(s.as_str().parse::<RoutingStrategy>().unwrap(), s);
        }
        assert!("fastest".parse::<RoutingStrategy>().is_err());
    }
}
