//! In-memory rate limiting over exact rolling windows, several windows per key, one lock per key.
//!
//! A [`RateLimitPolicy`] is a list of windows (any [`Duration`] with a limit; minute, hour and day
//! have shorthands). A "day" is any 24 hours, not a calendar day. A [`RateLimiter`] holds many
//! keys (an API endpoint's name, a gateway client id), each checked against the policy passed
//! with the call.
//!
//! # Guarantees
//!
//! - **No span of a window's length ever admits more than its limit.** Windows with a limit up
//!   to [`RateLimiter::exact_limit`] (default [`DEFAULT_EXACT_LIMIT`]) keep the timestamps of the
//!   admitted calls still inside the window (at most `limit` of them) and admit a call iff fewer
//!   than `limit` admitted calls fall in `(now - window, now]`: the decision is exact, neither
//!   over- nor under-admitting. (GCRA with a burst allowance is not: after a burst it admits
//!   close to twice the limit within one window; a test below shows it.)
//! - Windows with a larger limit use a bucketed counter to cap memory: the window is cut into
//!   about [`BUCKETS`] buckets of width `w = ⌈window / 128⌉`, and a call counts in full until
//!   its whole bucket has left the window. It never over-admits; it may under-admit, by counting
//!   calls over a span shorter than `window + 2w` (under 1.6 % longer than the window).
//! - **All windows are checked before any is charged**: a refused call charges nothing, and
//!   the whole decision happens under the key's one lock.
//! - A refused call carries `retry_after`, the time until every window would admit a call
//!   (the window that blocks longest decides), exact for exact windows if no other call is
//!   admitted meanwhile.
//! - Time never runs backwards for a key: a `now` earlier than the latest time the key has
//!   seen is taken as that latest time, so a wall clock stepping back cannot over-admit.
//!
//! Memory per key grows with the calls still inside its windows (8 bytes each, per exact
//! window) and is released by [`RateLimiter::evict_idle_at`] once a key has been idle for its
//! longest window. Day usage can be read with [`RateLimiter::usage_at`] for persisting and fed
//! back with [`RateLimiter::restore_at`] after a restart.

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{Clock, Error, Result};

/// The most windows one policy may have.
pub const MAX_WINDOWS: usize = 8;
/// Limits up to this are kept exactly (one timestamp per admitted call in the window).
pub const DEFAULT_EXACT_LIMIT: u64 = 4096;
/// How many buckets a window above the exact limit is cut into.
pub const BUCKETS: u64 = 128;
/// The longest window a policy may have (ten years of 365 days).
pub const MAX_WINDOW: Duration = Duration::from_secs(10 * 365 * 86_400);

const SHARDS: usize = 64;

// ---------------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------------

/// One rolling window: at most `limit` calls in any span of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowLimit {
    /// The window's length.
    pub window: Duration,
    /// Calls admitted in any span of that length.
    pub limit: u64,
}

impl WindowLimit {
    /// `limit` calls per `window`.
    pub const fn new(window: Duration, limit: u64) -> Self {
        Self { window, limit }
    }

    /// `limit` calls per second.
    pub const fn per_second(limit: u64) -> Self {
        Self::new(Duration::from_secs(1), limit)
    }

    /// `limit` calls per minute.
    pub const fn per_minute(limit: u64) -> Self {
        Self::new(Duration::from_secs(60), limit)
    }

    /// `limit` calls per hour.
    pub const fn per_hour(limit: u64) -> Self {
        Self::new(Duration::from_secs(3600), limit)
    }

    /// `limit` calls per day (any 24 hours).
    pub const fn per_day(limit: u64) -> Self {
        Self::new(Duration::from_secs(86_400), limit)
    }
}

/// A window in the limiter's internal units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    nanos: i64,
    limit: u64,
}

/// The windows a key is limited by; built validated, so checks never fail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitPolicy {
    windows: Vec<WindowLimit>,
    specs: Vec<Spec>,
}

impl RateLimitPolicy {
    /// A policy of the given windows; a zero limit, a zero or too long window, a window given
    /// twice or more than [`MAX_WINDOWS`] windows is a validation error on `windows[i]...`.
    pub fn new(windows: impl IntoIterator<Item = WindowLimit>) -> Result<Self> {
        let windows: Vec<WindowLimit> = windows.into_iter().collect();
        let fields: Vec<String> = (0..windows.len())
            .map(|i| format!("windows[{i}]"))
            .collect();
        Self::build(windows, &fields)
    }

    /// The policy of an API endpoint's optional per-minute, per-hour and per-day limits;
    /// errors name `limits.per_minute`, `limits.per_hour` or `limits.per_day`.
    pub fn from_limits(
        per_minute: Option<u64>,
        per_hour: Option<u64>,
        per_day: Option<u64>,
    ) -> Result<Self> {
        let mut windows = Vec::with_capacity(3);
        let mut fields = Vec::with_capacity(3);
        for (limit, window, field) in [
            (
                per_minute,
                WindowLimit::per_minute as fn(u64) -> WindowLimit,
                "per_minute",
            ),
            (per_hour, WindowLimit::per_hour, "per_hour"),
            (per_day, WindowLimit::per_day, "per_day"),
        ] {
            if let Some(limit) = limit {
                windows.push(window(limit));
                fields.push(format!("limits.{field}"));
            }
        }
        Self::build(windows, &fields)
    }

    /// A policy without windows: every call is admitted.
    pub fn unlimited() -> Self {
        Self::default()
    }

    fn build(windows: Vec<WindowLimit>, fields: &[String]) -> Result<Self> {
        if windows.len() > MAX_WINDOWS {
            return Err(Error::validation(
                "windows",
                format!("at most {MAX_WINDOWS} windows per policy"),
            ));
        }
        let mut specs = Vec::with_capacity(windows.len());
        for (i, w) in windows.iter().enumerate() {
            let field = &fields[i];
            if w.limit == 0 {
                return Err(Error::validation(
                    if field.starts_with("limits.") {
                        field.clone()
                    } else {
                        format!("{field}.limit")
                    },
                    "limit must be at least 1",
                ));
            }
            let window_field = if field.starts_with("limits.") {
                field.clone()
            } else {
                format!("{field}.window")
            };
            if w.window.is_zero() {
                return Err(Error::validation(
                    window_field,
                    "window must be longer than zero",
                ));
            }
            if w.window > MAX_WINDOW {
                return Err(Error::validation(
                    window_field,
                    "window must be at most ten years",
                ));
            }
            if windows[..i].iter().any(|o| o.window == w.window) {
                return Err(Error::validation(
                    window_field,
                    "the same window is given twice; keep the one with the lower limit",
                ));
            }
            // MAX_WINDOW fits an i64 of nanoseconds comfortably.
            let nanos = i64::try_from(w.window.as_nanos()).unwrap_or(i64::MAX);
            specs.push(Spec {
                nanos,
                limit: w.limit,
            });
        }
        Ok(Self { windows, specs })
    }

    /// The windows, in the order given.
    pub fn windows(&self) -> &[WindowLimit] {
        &self.windows
    }

    /// Whether the policy has no window (admits everything).
    pub fn is_unlimited(&self) -> bool {
        self.windows.is_empty()
    }

    /// The longest window, zero for an unlimited policy.
    pub fn longest_window(&self) -> Duration {
        self.windows
            .iter()
            .map(|w| w.window)
            .max()
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------

/// The state of one window of a key, as the `RateLimit-*` headers describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowStatus {
    /// The window's length.
    pub window: Duration,
    /// Calls admitted per window (`RateLimit-Limit`).
    pub limit: u64,
    /// Calls that would still be admitted now by this window alone (`RateLimit-Remaining`).
    pub remaining: u64,
    /// Time until this window frees at least one more call (`RateLimit-Reset`); zero when no
    /// admitted call is inside the window.
    pub reset_after: Duration,
}

impl WindowStatus {
    /// `reset_after` in whole seconds, rounded up (what an HTTP header should carry).
    pub fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset_after)
    }
}

/// The status of each window of a policy, in the policy's order; derefs to a slice.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowStatuses {
    len: u8,
    items: [WindowStatus; MAX_WINDOWS],
}

impl WindowStatuses {
    fn push(&mut self, status: WindowStatus) {
        if let Some(slot) = self.items.get_mut(usize::from(self.len)) {
            *slot = status;
            self.len += 1;
        }
    }

    /// The window with the fewest calls remaining (the longest reset breaks ties): the one an
    /// HTTP gateway reports in `RateLimit-*` headers.
    pub fn most_restrictive(&self) -> Option<&WindowStatus> {
        self.iter().min_by(|a, b| {
            a.remaining
                .cmp(&b.remaining)
                .then(b.reset_after.cmp(&a.reset_after))
        })
    }
}

impl Deref for WindowStatuses {
    type Target = [WindowStatus];

    fn deref(&self) -> &[WindowStatus] {
        &self.items[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for WindowStatuses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// What the limiter decided about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The call is admitted and charged to every window.
    Allowed {
        /// Each window after charging the call.
        windows: WindowStatuses,
    },
    /// The call is refused and charged nothing.
    Limited {
        /// Time until a call would be admitted by every window.
        retry_after: Duration,
        /// Each window as it stands (nothing charged).
        windows: WindowStatuses,
    },
}

impl Decision {
    /// Whether the call was admitted.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The wait before the next call would be admitted, for a refused call.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Allowed { .. } => None,
            Self::Limited { retry_after, .. } => Some(*retry_after),
        }
    }

    /// `retry_after` in whole seconds, rounded up (a `Retry-After` header's value).
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after().map(ceil_secs)
    }

    /// The status of each window.
    pub fn windows(&self) -> &WindowStatuses {
        match self {
            Self::Allowed { windows } | Self::Limited { windows, .. } => windows,
        }
    }
}

/// Admitted calls at one time: `count` calls that happened at or before `at` (taking them at
/// `at` is the conservative reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageMark {
    /// When (at the latest) the calls were admitted.
    pub at: DateTime<Utc>,
    /// How many calls.
    pub count: u64,
}

/// A key's usage, for persisting and for reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsage {
    /// Each window's status at the time asked.
    pub windows: WindowStatuses,
    /// The admitted calls still inside the longest window, oldest first; feeding them to
    /// [`RateLimiter::restore_at`] reproduces (or conservatively over-approximates) the state.
    pub marks: Vec<UsageMark>,
}

// ---------------------------------------------------------------------------------------------
// Per-window counters
// ---------------------------------------------------------------------------------------------

/// Timestamps (ns) of the admitted calls inside the window, oldest first, at most `limit`.
#[derive(Debug)]
struct Exact {
    stamps: VecDeque<i64>,
}

/// A conservative counter: `counts[idx % len]` holds the calls of bucket `idx` (times
/// `[idx * width, (idx + 1) * width)`), for buckets `current - span ..= current`.
#[derive(Debug)]
struct Buckets {
    width: i64,
    span: i64,
    counts: Box<[u64]>,
    current: i64,
    total: u64,
    /// The oldest non-empty bucket while `total > 0` (so status reads need no scan).
    first: i64,
}

impl Buckets {
    fn new(window: i64, now: i64) -> Self {
        let width = window.div_euclid(BUCKETS as i64) + i64::from(window % BUCKETS as i64 != 0);
        let width = width.max(1);
        let span = window / width + i64::from(window % width != 0);
        let len = usize::try_from(span + 1).unwrap_or(usize::MAX);
        Self {
            width,
            span,
            counts: vec![0; len].into_boxed_slice(),
            current: now.div_euclid(width),
            total: 0,
            first: now.div_euclid(width),
        }
    }

    fn slot(&self, idx: i64) -> usize {
        // The modulus is the slice length, so the result is a valid index.
        usize::try_from(idx.rem_euclid(self.span + 1)).unwrap_or(0)
    }

    fn advance(&mut self, now: i64) {
        let target = now.div_euclid(self.width);
        if target <= self.current {
            return;
        }
        let steps = (target - self.current).min(self.span + 1);
        let len = self.counts.len();
        let mut slot = self.slot(self.current);
        for _ in 0..steps {
            slot = if slot + 1 == len { 0 } else { slot + 1 };
            self.total -= self.counts[slot];
            self.counts[slot] = 0;
        }
        self.current = target;
        let oldest = self.current - self.span;
        if self.total == 0 {
            self.first = self.current;
        } else if self.first < oldest {
            // Amortised: `first` only moves forward, one bucket at a time.
            self.first = oldest;
            let mut slot = self.slot(oldest);
            while self.counts[slot] == 0 {
                self.first += 1;
                slot = if slot + 1 == len { 0 } else { slot + 1 };
            }
        }
    }

    /// The time (ns) at which bucket `idx` stops counting.
    fn expiry(&self, idx: i64) -> i64 {
        (idx + self.span + 1).saturating_mul(self.width)
    }

    fn add(&mut self, idx: i64, count: u64) {
        if count == 0 || idx < self.current - self.span || idx > self.current {
            return;
        }
        if self.total == 0 || idx < self.first {
            self.first = idx;
        }
        let slot = self.slot(idx);
        self.counts[slot] = self.counts[slot].saturating_add(count);
        self.total = self.total.saturating_add(count);
    }
}

#[derive(Debug)]
enum Counter {
    Exact(Exact),
    Buckets(Buckets),
}

#[derive(Debug)]
struct WindowState {
    spec: Spec,
    counter: Counter,
}

impl WindowState {
    fn new(spec: Spec, now: i64, exact_limit: u64) -> Self {
        let counter = if spec.limit <= exact_limit {
            Counter::Exact(Exact {
                stamps: VecDeque::new(),
            })
        } else {
            Counter::Buckets(Buckets::new(spec.nanos, now))
        };
        Self { spec, counter }
    }

    /// Forgets calls that left the window at `now`.
    #[inline]
    fn prune(&mut self, now: i64) {
        match &mut self.counter {
            Counter::Exact(e) => {
                let horizon = now - self.spec.nanos;
                while e.stamps.front().is_some_and(|&t| t <= horizon) {
                    e.stamps.pop_front();
                }
            }
            Counter::Buckets(b) => b.advance(now),
        }
    }

    fn used(&self) -> u64 {
        match &self.counter {
            Counter::Exact(e) => e.stamps.len() as u64,
            Counter::Buckets(b) => b.total,
        }
    }

    /// When pruned at `now` and full: the wait until this window admits a call.
    #[inline]
    fn blocked_for(&self, now: i64) -> Option<i64> {
        let used = self.used();
        if used < self.spec.limit {
            return None;
        }
        let over = used - self.spec.limit; // calls beyond the one that must leave first
        Some(match &self.counter {
            Counter::Exact(e) => {
                let i = usize::try_from(over).unwrap_or(usize::MAX);
                e.stamps.get(i).map_or(0, |&t| t + self.spec.nanos - now)
            }
            Counter::Buckets(b) => {
                let mut left = b.total;
                let mut at = now;
                let mut slot = b.slot(b.first);
                for idx in b.first..=b.current {
                    left -= b.counts[slot];
                    if left < self.spec.limit {
                        at = b.expiry(idx);
                        break;
                    }
                    slot = if slot + 1 == b.counts.len() {
                        0
                    } else {
                        slot + 1
                    };
                }
                at - now
            }
        })
    }

    #[inline]
    fn record(&mut self, now: i64) {
        match &mut self.counter {
            Counter::Exact(e) => {
                e.stamps.push_back(now);
                if e.stamps.len() as u64 > self.spec.limit {
                    e.stamps.pop_front();
                }
            }
            Counter::Buckets(b) => b.add(b.current, 1),
        }
    }

    /// Time until this window frees at least one call.
    fn reset_after(&self, now: i64) -> i64 {
        match &self.counter {
            Counter::Exact(e) => e.stamps.front().map_or(0, |&t| t + self.spec.nanos - now),
            Counter::Buckets(b) if b.total == 0 => 0,
            Counter::Buckets(b) => b.expiry(b.first) - now,
        }
    }

    fn status(&self, now: i64) -> WindowStatus {
        WindowStatus {
            window: nanos_to_duration(self.spec.nanos),
            limit: self.spec.limit,
            remaining: self.spec.limit.saturating_sub(self.used()),
            reset_after: nanos_to_duration(self.reset_after(now)),
        }
    }

    /// The admitted calls inside the window as `(ns, count)`, oldest first, none after `last`.
    fn marks(&self, last: i64) -> Vec<(i64, u64)> {
        let mut out: Vec<(i64, u64)> = Vec::new();
        match &self.counter {
            Counter::Exact(e) => {
                for &t in &e.stamps {
                    match out.last_mut() {
                        Some((at, n)) if *at == t => *n += 1,
                        _ => out.push((t, 1)),
                    }
                }
            }
            Counter::Buckets(b) => {
                for idx in b.current - b.span..=b.current {
                    let n = b.counts[b.slot(idx)];
                    if n > 0 {
                        let end = (idx + 1).saturating_mul(b.width) - 1;
                        out.push((end.min(last), n));
                    }
                }
            }
        }
        out
    }

    /// Adds admitted calls (`(ns, count)`, any order, none after `now`) to the window.
    fn restore(&mut self, marks: &[(i64, u64)], now: i64) {
        let horizon = now - self.spec.nanos;
        match &mut self.counter {
            Counter::Exact(e) => {
                let cap = usize::try_from(self.spec.limit).unwrap_or(usize::MAX);
                let mut all: Vec<i64> = e.stamps.iter().copied().collect();
                for &(t, n) in marks.iter().filter(|(t, _)| *t > horizon) {
                    let n = usize::try_from(n).unwrap_or(usize::MAX).min(cap);
                    all.extend(std::iter::repeat_n(t, n));
                }
                all.sort_unstable();
                // With more than `limit` calls in the window, the newest `limit` decide
                // exactly when the next call is admitted.
                let skip = all.len().saturating_sub(cap);
                e.stamps = all.into_iter().skip(skip).collect();
            }
            Counter::Buckets(b) => {
                for &(t, n) in marks.iter().filter(|(t, _)| *t > horizon) {
                    b.add(t.div_euclid(b.width), n);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-key entry
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Entry {
    windows: Vec<WindowState>,
    /// The latest time this key has seen (ns); time never runs backwards for a key.
    last: i64,
    /// The latest checked or restored call (ns); every admitted call is at or before it.
    active: i64,
    /// The longest window (ns).
    longest: i64,
}

impl Entry {
    fn new(policy: &RateLimitPolicy, now: i64, exact_limit: u64) -> Self {
        Self {
            windows: policy
                .specs
                .iter()
                .map(|&s| WindowState::new(s, now, exact_limit))
                .collect(),
            last: now,
            active: now,
            longest: policy.specs.iter().map(|s| s.nanos).max().unwrap_or(0),
        }
    }

    #[inline]
    fn matches(&self, policy: &RateLimitPolicy) -> bool {
        self.windows.len() == policy.specs.len()
            && self
                .windows
                .iter()
                .zip(&policy.specs)
                .all(|(w, s)| w.spec == *s)
    }

    /// Switches to `policy`, carrying the admitted calls of the longest old window over.
    fn adopt(&mut self, policy: &RateLimitPolicy, exact_limit: u64) {
        if self.matches(policy) {
            return;
        }
        let history = self.history();
        let (last, active) = (self.last, self.active);
        *self = Self::new(policy, last, exact_limit);
        self.active = active;
        for w in &mut self.windows {
            w.restore(&history, last);
        }
    }

    /// The admitted calls inside the longest window (every window's calls are among them).
    fn history(&self) -> Vec<(i64, u64)> {
        self.windows
            .iter()
            .max_by_key(|w| w.spec.nanos)
            .map(|w| w.marks(self.last))
            .unwrap_or_default()
    }

    #[inline]
    fn touch(&mut self, now: i64) -> i64 {
        self.last = self.last.max(now);
        self.last
    }

    #[inline]
    fn check(&mut self, now: i64) -> Decision {
        let now = self.touch(now);
        self.active = now;
        let mut blocked: Option<i64> = None;
        for w in &mut self.windows {
            w.prune(now);
            if let Some(wait) = w.blocked_for(now) {
                blocked = Some(blocked.map_or(wait, |b| b.max(wait)));
            }
        }
        if blocked.is_none() {
            for w in &mut self.windows {
                w.record(now);
            }
        }
        let windows = self.statuses(now);
        match blocked {
            None => Decision::Allowed { windows },
            Some(wait) => Decision::Limited {
                retry_after: nanos_to_duration(wait),
                windows,
            },
        }
    }

    #[inline]
    fn statuses(&self, now: i64) -> WindowStatuses {
        let mut out = WindowStatuses::default();
        for w in &self.windows {
            out.push(w.status(now));
        }
        out
    }

    /// The statuses at `now`, charging nothing (a read is not activity for eviction).
    fn peek(&mut self, now: i64) -> WindowStatuses {
        let now = self.touch(now);
        for w in &mut self.windows {
            w.prune(now);
        }
        self.statuses(now)
    }
}

// ---------------------------------------------------------------------------------------------
// The limiter
// ---------------------------------------------------------------------------------------------

type Shard = RwLock<HashMap<Box<str>, Mutex<Entry>>>;

/// Many keys, each limited by its own [`RateLimitPolicy`]; cheap to share behind an `Arc`.
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    exact_limit: u64,
    shards: Box<[Shard]>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("keys", &self.len())
            .field("exact_limit", &self.exact_limit)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// An empty limiter reading the time from `clock` (the `*_at` methods take it explicitly).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            exact_limit: DEFAULT_EXACT_LIMIT,
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }

    /// Keeps windows with a limit up to `limit` exact and buckets larger ones (see the module
    /// documentation); applies to keys created afterwards.
    #[must_use]
    pub fn with_exact_limit(mut self, limit: u64) -> Self {
        self.exact_limit = limit;
        self
    }

    /// The largest limit kept exactly.
    pub fn exact_limit(&self) -> u64 {
        self.exact_limit
    }

    /// Decides one call of `key` under `policy` at the clock's current time.
    pub fn check(&self, key: &str, policy: &RateLimitPolicy) -> Decision {
        self.check_at(key, policy, self.clock.now())
    }

    /// Decides one call of `key` under `policy` at `now`: admitted and charged to every
    /// window, or refused, charged nothing, with the wait until a call would be admitted.
    pub fn check_at(&self, key: &str, policy: &RateLimitPolicy, now: DateTime<Utc>) -> Decision {
        if policy.is_unlimited() {
            return Decision::Allowed {
                windows: WindowStatuses::default(),
            };
        }
        let now = to_nanos(now);
        let exact = self.exact_limit;
        self.with_entry(key, policy, now, |e| {
            e.adopt(policy, exact);
            e.check(now)
        })
    }

    /// Each window of `key` under `policy` at `now`, charging nothing.
    pub fn status_at(
        &self,
        key: &str,
        policy: &RateLimitPolicy,
        now: DateTime<Utc>,
    ) -> WindowStatuses {
        let nanos = to_nanos(now);
        let shard = read(self.shard(key));
        match shard.get(key) {
            Some(entry) => {
                let mut e = lock(entry);
                e.adopt(policy, self.exact_limit);
                e.peek(nanos)
            }
            None => Entry::new(policy, nanos, self.exact_limit).peek(nanos),
        }
    }

    /// [`status_at`](Self::status_at) at the clock's current time.
    pub fn status(&self, key: &str, policy: &RateLimitPolicy) -> WindowStatuses {
        self.status_at(key, policy, self.clock.now())
    }

    /// Adds admitted calls recorded elsewhere (e.g. persisted day usage) to `key`, so a
    /// restart does not reset a quota. Calls outside a window are ignored by that window; a
    /// mark after `now` moves the key's time forward to it. Adding the same marks twice counts
    /// them twice (conservative): restore once, before the key takes traffic.
    pub fn restore_at(
        &self,
        key: &str,
        policy: &RateLimitPolicy,
        marks: &[UsageMark],
        now: DateTime<Utc>,
    ) {
        if policy.is_unlimited() {
            return;
        }
        let marks: Vec<(i64, u64)> = marks
            .iter()
            .filter(|m| m.count > 0)
            .map(|m| (to_nanos(m.at), m.count))
            .collect();
        let now = marks.iter().map(|m| m.0).fold(to_nanos(now), i64::max);
        let exact = self.exact_limit;
        self.with_entry(key, policy, now, |e| {
            e.adopt(policy, exact);
            let now = e.touch(now);
            e.active = now;
            for w in &mut e.windows {
                w.prune(now);
                w.restore(&marks, now);
            }
        });
    }

    /// [`restore_at`](Self::restore_at) at the clock's current time.
    pub fn restore(&self, key: &str, policy: &RateLimitPolicy, marks: &[UsageMark]) {
        self.restore_at(key, policy, marks, self.clock.now());
    }

    /// The usage of `key` at `now` (windows and the admitted calls inside the longest window),
    /// or `None` for a key the limiter does not hold.
    pub fn usage_at(&self, key: &str, now: DateTime<Utc>) -> Option<KeyUsage> {
        let nanos = to_nanos(now);
        let shard = read(self.shard(key));
        let mut e = lock(shard.get(key)?);
        let windows = e.peek(nanos);
        let marks = e
            .history()
            .into_iter()
            .map(|(at, count)| UsageMark {
                at: DateTime::from_timestamp_nanos(at),
                count,
            })
            .collect();
        Some(KeyUsage { windows, marks })
    }

    /// [`usage_at`](Self::usage_at) at the clock's current time.
    pub fn usage(&self, key: &str) -> Option<KeyUsage> {
        self.usage_at(key, self.clock.now())
    }

    /// Drops every key without a checked or restored call for at least its longest window
    /// (its windows are all empty, so nothing is forgotten); returns how many were dropped.
    pub fn evict_idle_at(&self, now: DateTime<Utc>) -> usize {
        let now = to_nanos(now);
        let mut evicted = 0;
        for shard in &self.shards {
            let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
            let before = map.len();
            map.retain(|_, entry| {
                let e = entry.get_mut().unwrap_or_else(PoisonError::into_inner);
                now.saturating_sub(e.active) < e.longest
            });
            evicted += before - map.len();
        }
        evicted
    }

    /// [`evict_idle_at`](Self::evict_idle_at) at the clock's current time.
    pub fn evict_idle(&self) -> usize {
        self.evict_idle_at(self.clock.now())
    }

    /// Forgets `key` entirely (its usage included); returns whether it was held.
    pub fn remove(&self, key: &str) -> bool {
        self.shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
            .is_some()
    }

    /// How many keys the limiter holds.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| read(s).len()).sum()
    }

    /// Whether the limiter holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &str) -> &Shard {
        // FNV-1a picks the shard; each shard's map hashes with a keyed SipHash, so crafted
        // keys can crowd one shard's lock but cannot degrade its map.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key.as_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        &self.shards[usize::try_from(h >> 58).unwrap_or(0) % SHARDS]
    }

    /// Runs `f` on the entry of `key` (created under `policy` at `now` if missing) under the
    /// entry's lock.
    #[inline]
    fn with_entry<T>(
        &self,
        key: &str,
        policy: &RateLimitPolicy,
        now: i64,
        f: impl FnOnce(&mut Entry) -> T,
    ) -> T {
        let shard = self.shard(key);
        {
            let map = read(shard);
            if let Some(entry) = map.get(key) {
                return f(&mut lock(entry));
            }
        }
        let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
        let entry = map
            .entry(key.into())
            .or_insert_with(|| Mutex::new(Entry::new(policy, now, self.exact_limit)));
        f(entry.get_mut().unwrap_or_else(PoisonError::into_inner))
    }
}

fn read(shard: &Shard) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, Mutex<Entry>>> {
    shard.read().unwrap_or_else(PoisonError::into_inner)
}

fn lock(entry: &Mutex<Entry>) -> MutexGuard<'_, Entry> {
    entry.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN / 4
    } else {
        i64::MAX / 4
    })
}

fn nanos_to_duration(nanos: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests;
