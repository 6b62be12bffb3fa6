//! The in-memory rate-limit decision (target: < 200 ns with three windows), next to baselines
//! measured in the same run: a bare mutex lock/unlock and the sharded-map lookup it builds on.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use trae_core::{RateLimitPolicy, RateLimiter, SystemClock, WindowLimit};

const START: i64 = 1_800_000_000_000_000_000; // 2027-01-15 in ns

fn at(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

fn policy(per_minute: u64, per_hour: u64, per_day: u64) -> RateLimitPolicy {
    RateLimitPolicy::new([
        WindowLimit::per_minute(per_minute),
        WindowLimit::per_hour(per_hour),
        WindowLimit::per_day(per_day),
    ])
    .expect("valid policy")
}

fn baselines(c: &mut Criterion) {
    let mutex = Mutex::new(0_u64);
    c.bench_function("baseline/mutex_lock_unlock", |b| {
        b.iter(|| {
            let mut g = mutex.lock().expect("not poisoned");
            *g += 1;
            black_box(*g)
        })
    });
    // The floor of the limiter's data structure: a shard's read lock, a map lookup, a mutex.
    let shard: RwLock<HashMap<Box<str>, Mutex<u64>>> = RwLock::new(
        [("endpoint:openai".into(), Mutex::new(0))]
            .into_iter()
            .collect(),
    );
    c.bench_function("baseline/rwlock_map_get_mutex", |b| {
        b.iter(|| {
            let map = shard.read().expect("not poisoned");
            let mut g = map
                .get(black_box("endpoint:openai"))
                .expect("present")
                .lock()
                .expect("not poisoned");
            *g += 1;
            black_box(*g)
        })
    });
    // The same over 10 000 keys in turn (cache misses included), as the 10k-key case does.
    let keys: Vec<String> = (0..10_000).map(|i| format!("client:{i}")).collect();
    let big: RwLock<HashMap<Box<str>, Mutex<[u64; 8]>>> = RwLock::new(
        keys.iter()
            .map(|k| (k.as_str().into(), Mutex::new([0; 8])))
            .collect(),
    );
    let mut i = 0;
    c.bench_function("baseline/rwlock_map_get_mutex_10k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let map = big.read().expect("not poisoned");
            let mut g = map
                .get(&*keys[i])
                .expect("present")
                .lock()
                .expect("not poisoned");
            g[0] += 1;
            black_box(g[0])
        })
    });
    c.bench_function("baseline/utc_now", |b| b.iter(|| black_box(Utc::now())));
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit");

    // Exact windows in steady state: one call per 25 s keeps ~3 / 144 / 3456 timestamps in
    // the minute / hour / day windows, every call admitted (push one, pop one per window).
    let limiter = RateLimiter::new(Arc::new(SystemClock));
    let exact = policy(100, 1000, 4000);
    let mut now = START;
    for _ in 0..4000 {
        now += 25_000_000_000;
        assert!(
            limiter
                .check_at("endpoint:openai", &exact, at(now))
                .is_allowed()
        );
    }
    group.bench_function("check_3_windows_exact_allowed", |b| {
        b.iter(|| {
            now += 25_000_000_000;
            black_box(limiter.check_at(black_box("endpoint:openai"), &exact, at(now)))
        })
    });

    // Large limits: all three windows bucketed; one call per 100 ms.
    let bucketed = policy(10_000, 100_000, 1_000_000);
    let mut now = START;
    group.bench_function("check_3_windows_bucketed_allowed", |b| {
        b.iter(|| {
            now += 100_000_000;
            black_box(limiter.check_at(black_box("endpoint:big"), &bucketed, at(now)))
        })
    });

    // The refused path: every window full, the wait computed.
    let tight = policy(10, 100, 1000);
    for _ in 0..10 {
        limiter.check_at("client:tight", &tight, at(START));
    }
    group.bench_function("check_3_windows_limited", |b| {
        b.iter(|| black_box(limiter.check_at(black_box("client:tight"), &tight, at(START + 1))))
    });

    // A gateway's view: 10 000 client keys in turn, one call per ms in all, so each key calls
    // every 10 s (~6 / 360 / 8640 in its windows; the day window is bucketed).
    let gateway = policy(120, 4000, 50_000);
    let keys: Vec<String> = (0..10_000).map(|i| format!("client:{i}")).collect();
    let mut i = 0;
    let mut now = START;
    group.bench_function("check_3_windows_10k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            now += 1_000_000;
            black_box(limiter.check_at(&keys[i], &gateway, at(now)))
        })
    });

    // With the system clock read (Utc::now) included; limits high enough never to refuse
    // (so the windows are bucketed).
    let roomy = policy(1 << 40, 1 << 41, 1 << 42);
    let wall = RateLimiter::new(Arc::new(SystemClock));
    group.bench_function("check_3_windows_system_clock", |b| {
        b.iter(|| black_box(wall.check(black_box("endpoint:openai"), &roomy)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = baselines, decisions
}
criterion_main!(benches);
