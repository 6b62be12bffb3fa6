//! Rate limits on incoming requests (the gateway): which route group a request belongs to,
//! which client it is charged to, and what the `RateLimit-*` headers say.
//!
//! The HTTP server asks three questions of this module for every request and nothing else:
//! [`RouteGroup::of`] (by path), the [`ClientKey`] (built from what the server verified), and
//! [`GatewayLimiter::check`]. The decision itself is [`RateLimiter`]'s exact rolling windows.
//!
//! # Route groups
//!
//! | group | paths | default limit per client |
//! |---|---|---|
//! | [`RouteGroup::Exempt`] | `/api/health` and everything under it, `/docs…`, `/openapi.json`, `/` | none |
//! | [`RouteGroup::Login`] | `/api/auth/login`, `/api/auth/register`, `/api/auth/refresh` | 30 per minute |
//! | [`RouteGroup::Default`] | everything else (unknown paths included, so scanners are limited too) | 600 per minute |
//!
//! Each group has its own bucket per client: sign-ins do not eat into the API budget nor the
//! other way round.
//!
//! # Client keys
//!
//! A request is charged to, in this order: the API key (its id) when an API key was presented
//! and verified, the user when a Bearer access token verified, else the client IP (see
//! [`crate::apis::client_ip`]; an IPv6 client counts by its /64, the block one subscriber usually
//! holds). A credential that does not verify is never a key: anyone can make up a fresh
//! invalid token per request, so keying on one would hand out fresh buckets. The login group
//! is keyed by IP only: its routes need no credential, and accepting one there would let a
//! holder of several accounts multiply the sign-in budget.
//!
//! # Memory
//!
//! The limiter holds one key per (group, client) active within the group's longest window; a
//! key costs about 200 bytes plus 8 bytes per request admitted inside its windows (windows
//! above [`crate::apis::rate_limit::DEFAULT_EXACT_LIMIT`] are bucketed at about 1 KiB each). So
//! memory is bounded by `keys × 200 B + 8 B × requests admitted in the longest window`, and
//! [`GatewayLimiter::sweep`] (the server runs it every [`SWEEP_EVERY`]) drops keys idle for
//! their longest window. The number of keys is capped at `max_clients` (plus up to
//! [`CAPACITY_CHECK_EVERY`] created between two capacity checks): past it, clients not yet
//! tracked share one overflow bucket per group until sweeping frees room, so a flood from
//! many addresses cannot grow memory without bound, and nobody escapes limiting. The
//! [`CredentialMemo`] holds at most [`MEMO_CAPACITY`] entries of about 64 bytes.
//!
//! Limits are per process: with several `trae serve` nodes behind a balancer, a client may
//! get up to the limit from each node.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::apis::rate_limit::{Decision, RateLimitPolicy, RateLimiter, WindowLimit, WindowStatus};
use crate::config::GatewayLimitConfig;
use crate::{Clock, Result};

/// How often the server sweeps idle keys and expired memo entries.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Checks between two looks at the number of keys (counting them takes every shard's lock).
pub const CAPACITY_CHECK_EVERY: u64 = 1024;
/// Verified credentials remembered at most; past it, expired entries go, then all.
pub const MEMO_CAPACITY: usize = 50_000;
/// How long a verified API key is remembered (revoking it takes effect in the handler at
/// once; the memo only decides which bucket the request is charged to).
pub const API_KEY_MEMO: Duration = Duration::from_secs(300);
/// Counter of refused requests, labelled by `group`.
pub const GATEWAY_LIMITED: &str = "trae_http_rate_limited_total";
/// `RateLimit-Limit`: requests per window of the most restrictive window.
pub const RATELIMIT_LIMIT: &str = "ratelimit-limit";
/// `RateLimit-Remaining`: requests still admitted in that window.
pub const RATELIMIT_REMAINING: &str = "ratelimit-remaining";
/// `RateLimit-Reset`: seconds until that window frees another request.
pub const RATELIMIT_RESET: &str = "ratelimit-reset";
/// `RateLimit-Policy`: every window of the group, e.g. `600;w=60, 10000;w=3600`.
pub const RATELIMIT_POLICY: &str = "ratelimit-policy";
/// `Retry-After`: seconds until a refused client would be admitted.
pub const RETRY_AFTER: &str = "retry-after";

// ---------------------------------------------------------------------------------------------
// Route groups
// ---------------------------------------------------------------------------------------------

/// A set of routes sharing one limit per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteGroup {
    /// Health, the API docs, the spec and the dashboard root: never limited, so monitoring
    /// and a human opening the docs always get through.
    Exempt,
    /// Sign-in routes (login, register, refresh): tight, keyed by IP.
    Login,
    /// Every other route.
    Default,
}

impl RouteGroup {
    /// The group a request path belongs to (the method does not matter).
    pub fn of(path: &str) -> Self {
        if path == "/"
            || path == "/openapi.json"
            || under(path, "/api/health")
            || under(path, "/docs")
        {
            return Self::Exempt;
        }
        match path.strip_prefix("/api/auth/") {
            Some("login" | "register" | "refresh" | "login/" | "register/" | "refresh/") => {
                Self::Login
            }
            _ => Self::Default,
        }
    }

    /// The group's name (`exempt`, `login`, `default`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exempt => "exempt",
            Self::Login => "login",
            Self::Default => "default",
        }
    }
}

/// `path` is `prefix` or below it (`/docs` and `/docs/x`, not `/docsx`).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

// ---------------------------------------------------------------------------------------------
// Client keys
// ---------------------------------------------------------------------------------------------

/// Who a request is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A verified API key, by id.
    ApiKey(Uuid),
    /// A user whose access token verified.
    User(Uuid),
    /// The client address (IPv6 cut to its /64); see [`ClientKey::ip`].
    Ip(IpAddr),
    /// No address is known (not a socket peer, e.g. in-process calls); all such share one
    /// bucket.
    Unknown,
}

impl ClientKey {
    /// The key of a client address: IPv4 (and IPv4-mapped IPv6) as is, other IPv6 addresses
    /// by their /64 prefix, since one subscriber usually holds a whole /64.
    pub fn ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !(u128::from(u64::MAX));
                Self::Ip(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            v4 => Self::Ip(v4),
        }
    }

    /// The key of an optional address ([`ClientKey::Unknown`] without one).
    pub fn of_ip(ip: Option<IpAddr>) -> Self {
        ip.map_or(Self::Unknown, Self::ip)
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(id) => write!(f, "key:{id}"),
            Self::User(id) => write!(f, "user:{id}"),
            Self::Ip(IpAddr::V6(v6)) => write!(f, "ip:{v6}/64"),
            Self::Ip(ip) => write!(f, "ip:{ip}"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decisions and headers
// ---------------------------------------------------------------------------------------------

/// The window a client is told about in the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitState {
    /// The group the request was charged to.
    pub group: RouteGroup,
    /// Requests per window (`RateLimit-Limit`).
    pub limit: u64,
    /// Requests still admitted now (`RateLimit-Remaining`).
    pub remaining: u64,
    /// Whole seconds, rounded up, until the window frees another request (`RateLimit-Reset`).
    pub reset_secs: u64,
}

impl RateLimitState {
    fn of(group: RouteGroup, window: Option<&WindowStatus>) -> Self {
        let w = window.copied().unwrap_or_default();
        Self {
            group,
            limit: w.limit,
            remaining: w.remaining,
            reset_secs: w.reset_secs(),
        }
    }
}

/// What the gateway decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayDecision {
    /// Not limited at all (an exempt route, or limits switched off): no headers.
    Exempt,
    /// Admitted and charged.
    Allowed(RateLimitState),
    /// Refused (HTTP 429), charged nothing.
    Limited {
        /// The most restrictive window.
        state: RateLimitState,
        /// Whole seconds until a request would be admitted, at least 1 (`Retry-After`).
        retry_after_secs: u64,
    },
}

impl GatewayDecision {
    /// Whether the request may go on.
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Self::Limited { .. })
    }

    /// The response headers this decision calls for, as (name, value) pairs: the three
    /// `RateLimit-*` headers for a limited group, and `Retry-After` when refused. Names are
    /// lowercase (header names are case-insensitive; HTTP/2 sends them lowercase).
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, u64)> {
        let (state, retry) = match *self {
            Self::Exempt => (None, None),
            Self::Allowed(state) => (Some(state), None),
            Self::Limited {
                state,
                retry_after_secs,
            } => (Some(state), Some(retry_after_secs)),
        };
        let limits = state.into_iter().flat_map(|s| {
            [
                (RATELIMIT_LIMIT, s.limit),
                (RATELIMIT_REMAINING, s.remaining),
                (RATELIMIT_RESET, s.reset_secs),
            ]
        });
        limits.chain(retry.map(|secs| (RETRY_AFTER, secs)))
    }

    fn of(group: RouteGroup, decision: &Decision) -> Self {
        let state = RateLimitState::of(group, decision.windows().most_restrictive());
        match decision.retry_after_secs() {
            None => Self::Allowed(state),
            Some(secs) => Self::Limited {
                state,
                retry_after_secs: secs.max(1),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// One group's limit.
#[derive(Debug, Clone)]
struct GroupPolicy {
    policy: RateLimitPolicy,
    /// The `RateLimit-Policy` header value, e.g. `30;w=60`.
    header: String,
}

impl GroupPolicy {
    fn new(per_minute: u32, per_hour: u32) -> Result<Self> {
        let mut windows = vec![WindowLimit::per_minute(u64::from(per_minute))];
        if per_hour > 0 {
            windows.push(WindowLimit::per_hour(u64::from(per_hour)));
        }
        let policy = RateLimitPolicy::new(windows)?;
        let mut header = String::new();
        for (i, w) in policy.windows().iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(header, "{sep}{};w={}", w.limit, w.window.as_secs());
        }
        Ok(Self { policy, header })
    }
}

// ---------------------------------------------------------------------------------------------
// The limiter
// ---------------------------------------------------------------------------------------------

/// Per-client limits on incoming requests, per route group, in memory.
pub struct GatewayLimiter {
    enabled: bool,
    login: GroupPolicy,
    default: GroupPolicy,
    limiter: RateLimiter,
    max_keys: usize,
    over_capacity: AtomicBool,
    checks: AtomicU64,
    memo: CredentialMemo,
}

impl fmt::Debug for GatewayLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayLimiter")
            .field("enabled", &self.enabled)
            .field("login", &self.login.header)
            .field("default", &self.default.header)
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl GatewayLimiter {
    /// The limiter `config` describes, reading the time from `clock`.
    pub fn new(config: &GatewayLimitConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        Ok(Self {
            enabled: config.enabled,
            login: GroupPolicy::new(config.login_per_minute, config.login_per_hour)?,
            default: GroupPolicy::new(config.per_minute, config.per_hour)?,
            limiter: RateLimiter::new(clock.clone()),
            max_keys: usize::try_from(config.max_clients).unwrap_or(usize::MAX),
            over_capacity: AtomicBool::new(false),
            checks: AtomicU64::new(0),
            memo: CredentialMemo::new(clock),
        })
    }

    /// Whether limits apply at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn group_policy(&self, group: RouteGroup) -> Option<&GroupPolicy> {
        match group {
            _ if !self.enabled => None,
            RouteGroup::Exempt => None,
            RouteGroup::Login => Some(&self.login),
            RouteGroup::Default => Some(&self.default),
        }
    }

    /// Whether requests of `group` are limited (not exempt, limits on).
    pub fn limits(&self, group: RouteGroup) -> bool {
        self.group_policy(group).is_some()
    }

    /// The `RateLimit-Policy` header value of `group` (e.g. `30;w=60, 300;w=3600`), `None`
    /// when the group is not limited.
    pub fn policy_header(&self, group: RouteGroup) -> Option<&str> {
        self.group_policy(group).map(|g| g.header.as_str())
    }

    fn bucket(group: RouteGroup, client: &ClientKey) -> String {
        let mut key = String::with_capacity(48);
        let _ = write!(key, "{}|{client}", group.as_str());
        key
    }

    /// Decides one request of `client` to a route of `group`, charging it when admitted.
    pub fn check(&self, group: RouteGroup, client: &ClientKey) -> GatewayDecision {
        let Some(g) = self.group_policy(group) else {
            return GatewayDecision::Exempt;
        };
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(CAPACITY_CHECK_EVERY)
        {
            self.update_capacity();
        }
        let mut key = Self::bucket(group, client);
        // Only past the cap is membership asked (it copies the key's history).
        if self.over_capacity.load(Ordering::Relaxed) && self.limiter.usage(&key).is_none() {
            key = format!("{}|overflow", group.as_str());
        }
        GatewayDecision::of(group, &self.limiter.check(&key, &g.policy))
    }

    /// Whether `client` has used up a window of `group` (charging nothing): the server asks
    /// before paying for a credential lookup, so a client refused anyway cannot make it
    /// look up one made-up key after another.
    pub fn is_exhausted(&self, group: RouteGroup, client: &ClientKey) -> bool {
        let Some(g) = self.group_policy(group) else {
            return false;
        };
        self.limiter
            .status(&Self::bucket(group, client), &g.policy)
            .iter()
            .any(|w| w.remaining == 0)
    }

    fn update_capacity(&self) {
        self.over_capacity
            .store(self.limiter.len() >= self.max_keys, Ordering::Relaxed);
    }

    /// Drops keys idle for their longest window and expired memo entries; returns the keys
    /// dropped. Run it every [`SWEEP_EVERY`].
    pub fn sweep(&self) -> usize {
        let evicted = self.limiter.evict_idle();
        self.memo.prune();
        self.update_capacity();
        evicted
    }

    /// How many (group, client) keys are tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }

    /// The verified credentials remembered, so each is verified once, not per request.
    pub fn credentials(&self) -> &CredentialMemo {
        &self.memo
    }
}

// ---------------------------------------------------------------------------------------------
// Verified credentials
// ---------------------------------------------------------------------------------------------

/// A keyed 128-bit fingerprint of a credential: the memo never holds the credential itself,
/// and without the process's random key nobody can craft a credential matching another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(u64, u64);

#[derive(Debug, Clone, Copy)]
struct Memo {
    client: ClientKey,
    until: DateTime<Utc>,
}

/// Credentials already verified, each with the client it stands for, until it expires.
///
/// Verifying an access token costs a few microseconds and an API key a database read; the
/// memo makes that a map lookup for every later request with the same credential. Only
/// verified credentials are remembered.
pub struct CredentialMemo {
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    entries: RwLock<HashMap<Fingerprint, Memo>>,
}

impl fmt::Debug for CredentialMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialMemo")
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl CredentialMemo {
    /// An empty memo reading the time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            hasher: RandomState::new(),
            clock,
            entries: RwLock::default(),
        }
    }

    /// The fingerprint of `credential` (two SipHash outputs under this memo's random key).
    pub fn fingerprint(&self, credential: &str) -> Fingerprint {
        let half = |domain: u8| {
            let mut h = self.hasher.build_hasher();
            domain.hash(&mut h);
            credential.hash(&mut h);
            h.finish()
        };
        Fingerprint(half(0), half(1))
    }

    /// The client a remembered, unexpired credential stands for.
    pub fn get(&self, fingerprint: Fingerprint) -> Option<ClientKey> {
        let memo = *self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&fingerprint)?;
        (self.clock.now() < memo.until).then_some(memo.client)
    }

    /// Remembers that the credential with `fingerprint` verified as `client`, until `until`.
    pub fn put(&self, fingerprint: Fingerprint, client: ClientKey, until: DateTime<Utc>) {
        let now = self.clock.now();
        if until <= now {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MEMO_CAPACITY && !entries.contains_key(&fingerprint) {
            entries.retain(|_, m| m.until > now);
            if entries.len() >= MEMO_CAPACITY {
                // Forgetting costs only a re-verification.
                entries.clear();
            }
        }
        entries.insert(fingerprint, Memo { client, until });
    }

    /// Remembers that the credential with `fingerprint` verified as `client`, for `ttl` from
    /// now.
    pub fn put_for(&self, fingerprint: Fingerprint, client: ClientKey, ttl: Duration) {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        if let Some(until) = self.clock.now().checked_add_signed(ttl) {
            self.put(fingerprint, client, until);
        }
    }

    /// Drops expired entries; returns how many.
    pub fn prune(&self) -> usize {
        let now = self.clock.now();
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let before = entries.len();
        entries.retain(|_, m| m.until > now);
        before - entries.len()
    }

    /// How many credentials are remembered.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn config() -> GatewayLimitConfig {
        GatewayLimitConfig {
            login_per_minute: 3,
            per_minute: 5,
            ..GatewayLimitConfig::default()
        }
    }

    fn gateway(config: &GatewayLimitConfig) -> (Arc<ManualClock>, GatewayLimiter) {
        let clock = Arc::new(ManualClock::new(t0()));
        let g = GatewayLimiter::new(config, clock.clone()).unwrap();
        (clock, g)
    }

    fn ip(s: &str) -> ClientKey {
        ClientKey::ip(s.parse().unwrap())
    }

    #[test]
    fn paths_fall_into_their_groups() {
        for exempt in [
            "/",
            "/openapi.json",
            "/docs",
            "/docs/",
            "/docs/index.css",
            "/api/health",
            "/api/health/live",
            "/api/health/components",
        ] {
            assert_eq!(RouteGroup::of(exempt), RouteGroup::Exempt, "{exempt}");
        }
        for login in ["/api/auth/login", "/api/auth/register", "/api/auth/refresh"] {
            assert_eq!(RouteGroup::of(login), RouteGroup::Login, "{login}");
        }
        for default in [
            "/api/auth/me",
            "/api/auth/logout",
            "/api/auth/login/x",
            "/api/healthz",
            "/docsx",
            "/api/pets",
            "/metrics",
            "/nope",
            "",
        ] {
            assert_eq!(RouteGroup::of(default), RouteGroup::Default, "{default}");
        }
    }

    #[test]
    fn ipv6_clients_count_by_their_slash_64() {
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:203.0.113.5"), ip("203.0.113.5"));
        assert_eq!(ip("2001:db8:1:2::1").to_string(), "ip:2001:db8:1:2::/64");
        assert_eq!(ip("203.0.113.5").to_string(), "ip:203.0.113.5");
        assert_eq!(ClientKey::of_ip(None), ClientKey::Unknown);
    }

    #[test]
    fn the_request_past_the_limit_is_refused_with_retry_after() {
        let (clock, g) = gateway(&config());
        let client = ip("203.0.113.5");
        for n in 0..3_u64 {
            clock.advance(chrono::Duration::seconds(10));
            match g.check(RouteGroup::Login, &client) {
                GatewayDecision::Allowed(s) => {
                    assert_eq!((s.limit, s.remaining), (3, 2 - n));
                    // The oldest request inside the window frees first.
                    assert_eq!(s.reset_secs, 60 - 10 * n);
                }
                other => panic!("request {n}: {other:?}"),
            }
        }
        clock.advance(chrono::Duration::milliseconds(500));
        let refused = g.check(RouteGroup::Login, &client);
        assert_eq!(
            refused,
            GatewayDecision::Limited {
                state: RateLimitState {
                    group: RouteGroup::Login,
                    limit: 3,
                    remaining: 0,
                    reset_secs: 40,
                },
                // The first request leaves the window at 70 s: 39.5 s away, rounded up.
                retry_after_secs: 40,
            }
        );
        assert!(!refused.is_allowed());
        assert_eq!(
            refused.headers().collect::<Vec<_>>(),
            vec![
                ("ratelimit-limit", 3),
                ("ratelimit-remaining", 0),
                ("ratelimit-reset", 40),
                ("retry-after", 40),
            ]
        );
        // A refused request charges nothing: once the first one leaves, one more fits.
        clock.advance(chrono::Duration::milliseconds(39_500));
        assert!(g.check(RouteGroup::Login, &client).is_allowed());
        assert!(!g.check(RouteGroup::Login, &client).is_allowed());
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        let (clock, g) = gateway(&config());
        let client = ip("203.0.113.5");
        for _ in 0..3 {
            g.check(RouteGroup::Login, &client);
        }
        // 1 ms before the window frees.
        clock.advance(chrono::Duration::milliseconds(59_999));
        match g.check(RouteGroup::Login, &client) {
            GatewayDecision::Limited {
                retry_after_secs, ..
            } => assert_eq!(retry_after_secs, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn groups_and_clients_have_separate_buckets() {
        let (_, g) = gateway(&config());
        let a = ClientKey::User(Uuid::now_v7());
        let b = ClientKey::User(Uuid::now_v7());
        for _ in 0..5 {
            assert!(g.check(RouteGroup::Default, &a).is_allowed());
        }
        assert!(!g.check(RouteGroup::Default, &a).is_allowed());
        assert!(g.is_exhausted(RouteGroup::Default, &a));
        assert!(!g.is_exhausted(RouteGroup::Default, &b));
        assert!(g.check(RouteGroup::Default, &b).is_allowed());
        // Sign-ins have their own budget.
        assert!(g.check(RouteGroup::Login, &a).is_allowed());
        // The same id as an API key is another client.
        let ClientKey::User(id) = a else {
            unreachable!()
        };
        assert!(
            g.check(RouteGroup::Default, &ClientKey::ApiKey(id))
                .is_allowed()
        );
    }

    #[test]
    fn exempt_routes_and_switched_off_limits_are_never_refused() {
        let (_, g) = gateway(&config());
        let client = ip("203.0.113.5");
        for _ in 0..100 {
            assert_eq!(
                g.check(RouteGroup::Exempt, &client),
                GatewayDecision::Exempt
            );
        }
        assert_eq!(g.tracked(), 0);
        assert_eq!(GatewayDecision::Exempt.headers().count(), 0);
        assert!(!g.limits(RouteGroup::Exempt));
        assert_eq!(g.policy_header(RouteGroup::Exempt), None);

        let (_, off) = gateway(&GatewayLimitConfig {
            enabled: false,
            ..config()
        });
        for _ in 0..100 {
            assert_eq!(
                off.check(RouteGroup::Login, &client),
                GatewayDecision::Exempt
            );
        }
        assert!(!off.is_enabled());
        assert!(!off.is_exhausted(RouteGroup::Login, &client));
    }

    #[test]
    fn an_hourly_window_limits_on_top_of_the_minute() {
        let (clock, g) = gateway(&GatewayLimitConfig {
            per_minute: 5,
            per_hour: 7,
            ..config()
        });
        assert_eq!(
            g.policy_header(RouteGroup::Default),
            Some("5;w=60, 7;w=3600")
        );
        assert_eq!(g.policy_header(RouteGroup::Login), Some("3;w=60"));
        let c = ip("198.51.100.1");
        for _ in 0..5 {
            assert!(g.check(RouteGroup::Default, &c).is_allowed());
        }
        clock.advance(chrono::Duration::minutes(1));
        assert!(g.check(RouteGroup::Default, &c).is_allowed());
        match g.check(RouteGroup::Default, &c) {
            // The hour has one left and is now the tighter window.
            GatewayDecision::Allowed(s) => assert_eq!((s.limit, s.remaining), (7, 0)),
            other => panic!("{other:?}"),
        }
        match g.check(RouteGroup::Default, &c) {
            GatewayDecision::Limited {
                state,
                retry_after_secs,
            } => {
                assert_eq!(state.limit, 7);
                assert_eq!(retry_after_secs, 59 * 60);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn idle_clients_are_swept() {
        let (clock, g) = gateway(&config());
        for i in 0..50 {
            g.check(RouteGroup::Default, &ip(&format!("10.0.0.{i}")));
        }
        g.check(RouteGroup::Login, &ip("10.0.0.1"));
        assert_eq!(g.tracked(), 51);
        clock.advance(chrono::Duration::seconds(59));
        assert_eq!(g.sweep(), 0);
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(g.sweep(), 51);
        assert_eq!(g.tracked(), 0);
    }

    #[test]
    fn past_the_client_cap_new_clients_share_one_bucket() {
        let (_, g) = gateway(&GatewayLimitConfig {
            max_clients: 10,
            ..config()
        });
        let tracked: Vec<ClientKey> = (0..10).map(|i| ip(&format!("10.0.0.{i}"))).collect();
        for c in &tracked {
            assert!(g.check(RouteGroup::Default, c).is_allowed());
        }
        g.sweep(); // notices the cap
        // Newcomers share the overflow bucket (5 per minute in all)...
        let admitted = (0..20)
            .filter(|i| {
                g.check(RouteGroup::Default, &ip(&format!("10.1.0.{i}")))
                    .is_allowed()
            })
            .count();
        assert_eq!(admitted, 5);
        assert_eq!(g.tracked(), 11);
        // ...while clients already tracked keep their own.
        for c in &tracked {
            assert!(g.check(RouteGroup::Default, c).is_allowed());
        }
    }

    #[test]
    fn the_memo_remembers_verified_credentials_until_they_expire() {
        let clock = Arc::new(ManualClock::new(t0()));
        let memo = CredentialMemo::new(clock.clone());
        let user = ClientKey::User(Uuid::now_v7());
        let fp = memo.fingerprint("token-a");
        assert_eq!(fp, memo.fingerprint("token-a"));
        assert_ne!(fp, memo.fingerprint("token-b"));
        assert_eq!(memo.get(fp), None);
        memo.put(fp, user, t0() + chrono::Duration::minutes(15));
        assert_eq!(memo.get(fp), Some(user));
        assert_eq!(memo.get(memo.fingerprint("token-b")), None);
        // Already expired: not remembered.
        memo.put(memo.fingerprint("old"), user, t0());
        assert_eq!(memo.len(), 1);
        let key = ClientKey::ApiKey(Uuid::now_v7());
        memo.put_for(memo.fingerprint("key"), key, Duration::from_secs(60));
        assert_eq!(memo.get(memo.fingerprint("key")), Some(key));
        clock.advance(chrono::Duration::seconds(60));
        assert_eq!(memo.get(memo.fingerprint("key")), None);
        assert_eq!(memo.prune(), 1);
        clock.advance(chrono::Duration::minutes(14));
        assert_eq!(memo.get(fp), None);
        assert_eq!(memo.prune(), 1);
        assert!(memo.is_empty());
        // Another process (another random key) fingerprints differently.
        let other = CredentialMemo::new(clock);
        assert_ne!(other.fingerprint("token-a"), fp);
    }

    #[test]
    fn a_full_memo_makes_room() {
        let clock = Arc::new(ManualClock::new(t0()));
        let memo = CredentialMemo::new(clock.clone());
        let user = ClientKey::User(Uuid::nil());
        for i in 0..MEMO_CAPACITY {
            let until = t0() + chrono::Duration::seconds(if i % 2 == 0 { 10 } else { 100 });
            memo.put(memo.fingerprint(&i.to_string()), user, until);
        }
        assert_eq!(memo.len(), MEMO_CAPACITY);
        clock.advance(chrono::Duration::seconds(10));
        memo.put(
            memo.fingerprint("new"),
            user,
            t0() + chrono::Duration::hours(1),
        );
        assert_eq!(memo.len(), MEMO_CAPACITY / 2 + 1);
        assert_eq!(memo.get(memo.fingerprint("new")), Some(user));
        assert_eq!(memo.get(memo.fingerprint("1")), Some(user));
    }
}
