use super::*;
use crate::ManualClock;
use chrono::TimeZone;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

fn limiter() -> (Arc<ManualClock>, RateLimiter) {
    let clock = Arc::new(ManualClock::new(t0()));
    let limiter = RateLimiter::new(clock.clone());
    (clock, limiter)
}

fn field_of(err: Error) -> String {
    match err {
        Error::Validation { field, .. } => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn policy_validation_names_the_field() {
    let zero_limit = RateLimitPolicy::new([WindowLimit::per_minute(5), WindowLimit::per_hour(0)]);
    assert_eq!(field_of(zero_limit.unwrap_err()), "windows[1].limit");
    let zero_window = RateLimitPolicy::new([WindowLimit::new(Duration::ZERO, 5)]);
    assert_eq!(field_of(zero_window.unwrap_err()), "windows[0].window");
    let twice = RateLimitPolicy::new([WindowLimit::per_minute(5), WindowLimit::per_minute(6)]);
    assert_eq!(field_of(twice.unwrap_err()), "windows[1].window");
    let too_long = RateLimitPolicy::new([WindowLimit::new(MAX_WINDOW * 2, 1)]);
    assert_eq!(field_of(too_long.unwrap_err()), "windows[0].window");
    let many = RateLimitPolicy::new((1..=9).map(|s| WindowLimit::new(Duration::from_secs(s), 1)));
    assert_eq!(field_of(many.unwrap_err()), "windows");
    let day = RateLimitPolicy::from_limits(Some(10), None, Some(0));
    assert_eq!(field_of(day.unwrap_err()), "limits.per_day");

    let ok = RateLimitPolicy::from_limits(Some(10), None, Some(1000)).unwrap();
    assert_eq!(
        ok.windows(),
        &[WindowLimit::per_minute(10), WindowLimit::per_day(1000)]
    );
    assert_eq!(ok.longest_window(), Duration::from_secs(86_400));
    assert!(
        RateLimitPolicy::from_limits(None, None, None)
            .unwrap()
            .is_unlimited()
    );
}

#[test]
fn unlimited_policy_admits_everything_and_holds_no_key() {
    let (_, l) = limiter();
    for _ in 0..100 {
        assert!(l.check("k", &RateLimitPolicy::unlimited()).is_allowed());
    }
    assert!(l.is_empty());
}

#[test]
fn burst_across_a_minute_boundary() {
    let (clock, l) = limiter();
    let p = RateLimitPolicy::from_limits(Some(10), None, None).unwrap();
    clock.set(t0() + ms(59_900)); // 00:59.9
    for i in 0..10 {
        let d = l.check("api", &p);
        assert!(d.is_allowed(), "call {i}");
        assert_eq!(d.windows()[0].remaining, 9 - i);
    }
    clock.set(t0() + ms(60_100)); // 01:00.1: a fixed-window counter would reset here
    let d = l.check("api", &p);
    assert_eq!(d.retry_after(), Some(Duration::from_millis(59_800)));
    assert_eq!(d.retry_after_secs(), Some(60));
    clock.set(t0() + ms(119_899)); // 01:59.899: still inside the minute
    assert!(!l.check("api", &p).is_allowed());
    clock.set(t0() + ms(119_900)); // 01:59.9: the burst left the window
    for _ in 0..10 {
        assert!(l.check("api", &p).is_allowed());
    }
    assert!(!l.check("api", &p).is_allowed());
}

#[test]
fn hour_limit_with_a_test_clock() {
    let (clock, l) = limiter();
    let p = RateLimitPolicy::from_limits(Some(10), Some(30), None).unwrap();
    // 10 calls a minute for three minutes uses the hour's budget.
    for minute in 0..3 {
        clock.set(t0() + chrono::Duration::minutes(minute));
        for _ in 0..10 {
            assert!(l.check("k", &p).is_allowed());
        }
    }
    clock.set(t0() + chrono::Duration::minutes(5));
    let d = l.check("k", &p);
    // The minute window is free; the hour frees its first call at 01:00:00.
    assert_eq!(d.windows()[0].remaining, 10);
    assert_eq!(d.windows()[1].remaining, 0);
    assert_eq!(d.retry_after(), Some(Duration::from_secs(55 * 60)));
    clock.set(t0() + chrono::Duration::minutes(60));
    for _ in 0..10 {
        assert!(l.check("k", &p).is_allowed());
    }
    assert!(!l.check("k", &p).is_allowed());
}

#[test]
fn day_limit_is_any_24_hours_not_a_calendar_day() {
    let (clock, l) = limiter();
    let p = RateLimitPolicy::from_limits(None, None, Some(3)).unwrap();
    clock.set(t0() + chrono::Duration::hours(23)); // 23:00 on Jan 1
    for _ in 0..3 {
        assert!(l.check("k", &p).is_allowed());
    }
    // After midnight a calendar-day quota would reset; a rolling day does not.
    clock.set(t0() + chrono::Duration::hours(25));
    let d = l.check("k", &p);
    assert_eq!(d.retry_after(), Some(Duration::from_secs(22 * 3600)));
    clock.set(t0() + chrono::Duration::hours(47));
    assert!(l.check("k", &p).is_allowed());
}

#[test]
fn a_refused_call_charges_nothing() {
    let (clock, l) = limiter();
    let p = RateLimitPolicy::from_limits(Some(2), Some(5), None).unwrap();
    assert!(l.check("k", &p).is_allowed());
    assert!(l.check("k", &p).is_allowed());
    // A hundred minute-limited refusals must not eat the hour's remaining 3.
    for _ in 0..100 {
        let d = l.check("k", &p);
        assert!(!d.is_allowed());
        assert_eq!(d.windows()[1].remaining, 3);
    }
    clock.advance(chrono::Duration::minutes(1));
    assert!(l.check("k", &p).is_allowed());
    assert!(l.check("k", &p).is_allowed());
    clock.advance(chrono::Duration::minutes(1));
    assert!(l.check("k", &p).is_allowed());
    let d = l.check("k", &p);
    assert_eq!(d.windows()[0].remaining, 1); // the hour, not the minute, refuses
    assert_eq!(d.windows()[1].remaining, 0);
    assert_eq!(d.retry_after(), Some(Duration::from_secs(58 * 60)));
}

#[test]
fn retry_after_comes_from_the_longest_blocker_and_is_exact() {
    let (clock, l) = limiter();
    let p = RateLimitPolicy::new([
        WindowLimit::per_second(2),
        WindowLimit::per_minute(3),
        WindowLimit::per_hour(100),
    ])
    .unwrap();
    assert!(l.check("k", &p).is_allowed()); // 0.000
    clock.advance(ms(300));
    assert!(l.check("k", &p).is_allowed()); // 0.300
    clock.advance(ms(200));
    // 0.500: the second is full until 1.000, the minute is not yet full.
    assert_eq!(
        l.check("k", &p).retry_after(),
        Some(Duration::from_millis(500))
    );
    clock.advance(ms(700));
    assert!(l.check("k", &p).is_allowed()); // 1.200
    clock.advance(ms(100));
    // 1.300: the second is full until 2.300, the minute until 60.000: the minute decides.
    let d = l.check("k", &p);
    assert_eq!(d.retry_after(), Some(Duration::from_millis(58_700)));
    clock.advance(ms(58_700) - chrono::Duration::nanoseconds(1));
    assert!(!l.check("k", &p).is_allowed());
    clock.advance(chrono::Duration::nanoseconds(1));
    assert!(l.check("k", &p).is_allowed());
}

#[test]
fn statuses_feed_ratelimit_headers() {
    let (clock, l) = limiter();
    let p = RateLimitPolicy::from_limits(Some(5), Some(6), None).unwrap();
    assert_eq!(
        *l.status("k", &p),
        [
            WindowStatus {
                window: Duration::from_secs(60),
                limit: 5,
                remaining: 5,
                reset_after: Duration::ZERO
            },
            WindowStatus {
                window: Duration::from_secs(3600),
                limit: 6,
                remaining: 6,
                reset_after: Duration::ZERO
            },
        ]
    );
    assert!(l.is_empty(), "a status read creates no key");
    l.check("k", &p);
    clock.advance(ms(1500));
    let d = l.check("k", &p);
    let w = d.windows();
    assert_eq!(
        (w[0].remaining, w[0].reset_after),
        (3, Duration::from_millis(58_500))
    );
    assert_eq!(w[0].reset_secs(), 59);
    assert_eq!(w[1].remaining, 4);
    let most = w.most_restrictive().unwrap();
    assert_eq!((most.limit, most.remaining), (5, 3));
    // Reading the status charges nothing.
    assert_eq!(l.status("k", &p)[0].remaining, 3);
    assert_eq!(l.status("k", &p)[0].remaining, 3);
}

#[test]
fn a_clock_stepping_back_cannot_over_admit() {
    let (clock, l) = limiter();
    let p = RateLimitPolicy::from_limits(Some(2), None, None).unwrap();
    clock.set(t0() + chrono::Duration::minutes(10));
    assert!(l.check("k", &p).is_allowed());
    assert!(l.check("k", &p).is_allowed());
    clock.set(t0()); // wall clock jumps back ten minutes
    let d = l.check("k", &p);
    assert_eq!(d.retry_after(), Some(Duration::from_secs(60)));
    clock.set(t0() + chrono::Duration::minutes(5));
    assert!(!l.check("k", &p).is_allowed());
    // A status read from a clock ahead moves the key's time to 11:00 (both calls left the
    // window); a check from a clock behind is then taken at 11:00 and charged there.
    let ahead = t0() + chrono::Duration::minutes(11);
    assert_eq!(l.status_at("k", &p, ahead)[0].remaining, 2);
    let behind = t0() + chrono::Duration::minutes(10);
    assert!(l.check_at("k", &p, behind).is_allowed());
    assert!(l.check_at("k", &p, behind).is_allowed());
    let d = l.check_at("k", &p, behind);
    assert_eq!(
        d.retry_after(),
        Some(Duration::from_secs(60)),
        "counted from 11:00"
    );
}

/// GCRA with the burst allowance of `limit` calls (what governor does for "`limit` per
/// `window`, burst `limit`"): the theoretical arrival time moves by `window / limit` per call,
/// a call is admitted while it is at most `window - window / limit` ahead of now.
struct Gcra {
    tat: i64,
    interval: i64,
    tolerance: i64,
}

impl Gcra {
    fn admit(&mut self, now: i64) -> bool {
        let tat = self.tat.max(now);
        if tat - now > self.tolerance {
            return false;
        }
        self.tat = tat + self.interval;
        true
    }
}

#[test]
fn gcra_with_a_burst_over_admits_where_exact_windows_do_not() {
    let limit = 10_u64;
    let window = 60_000_000_000_i64; // one minute in ns
    let interval = window / limit as i64;
    let mut gcra = Gcra {
        tat: 0,
        interval,
        tolerance: window - interval,
    };
    let (_, l) = limiter();
    let p = RateLimitPolicy::new([WindowLimit::per_minute(limit)]).unwrap();

    // Try a call every 100 ms for one minute, starting with a burst.
    let (mut by_gcra, mut by_us) = (Vec::new(), Vec::new());
    for step in 0..600 {
        let now = step * 100_000_000;
        if gcra.admit(now) {
            by_gcra.push(now);
        }
        if l.check_at("k", &p, DateTime::from_timestamp_nanos(now))
            .is_allowed()
        {
            by_us.push(now);
        }
    }
    let worst = |stamps: &[i64]| {
        stamps
            .iter()
            .map(|&end| {
                stamps
                    .iter()
                    .filter(|&&t| t > end - window && t <= end)
                    .count()
            })
            .max()
            .unwrap_or(0)
    };
    // GCRA: the burst of 10 plus one call per 6 s = 19 calls inside one minute.
    assert_eq!(worst(&by_gcra), 2 * limit as usize - 1);
    assert_eq!(worst(&by_us), limit as usize);
}

/// A deterministic xorshift generator, so a failing case reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Each bucketed window's cached fields agree with its counts.
fn assert_buckets_consistent(l: &RateLimiter, key: &str) {
    let map = read(l.shard(key));
    let e = lock(map.get(key).unwrap());
    for w in &e.windows {
        if let Counter::Buckets(b) = &w.counter {
            assert_eq!(b.total, b.counts.iter().sum::<u64>());
            if b.total > 0 {
                let first = (b.current - b.span..=b.current)
                    .find(|&idx| b.counts[b.slot(idx)] > 0)
                    .unwrap();
                assert_eq!(b.first, first);
            }
        }
    }
}

/// Admitted calls in `(end - window, end]`.
fn count_in(stamps: &[i64], end: i64, window: i64) -> u64 {
    let lo = stamps.partition_point(|&t| t <= end - window);
    let hi = stamps.partition_point(|&t| t <= end);
    (hi - lo) as u64
}

/// Random policies and bursty random traffic, checked against a brute-force model: exact
/// windows decide exactly like the model (same admissions, same retry_after); bucketed
/// windows never over-admit and admit whenever a window `2w` longer would.
#[test]
fn randomized_windows_never_admit_more_than_the_limit() {
    for seed in 1..=60_u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let bucketed = seed % 3 == 0;
        let exact_limit = if bucketed { 3 } else { DEFAULT_EXACT_LIMIT };
        let l = RateLimiter::new(Arc::new(ManualClock::new(t0()))).with_exact_limit(exact_limit);
        let n_windows = 1 + rng.below(3) as usize;
        let mut windows = Vec::new();
        while windows.len() < n_windows {
            let w = WindowLimit::new(
                Duration::from_millis(100 + rng.below(20_000)),
                1 + rng.below(if bucketed { 40 } else { 12 }),
            );
            if windows.iter().all(|o: &WindowLimit| o.window != w.window) {
                windows.push(w);
            }
        }
        let p = RateLimitPolicy::new(windows.clone()).unwrap();
        let specs: Vec<(i64, u64)> = windows
            .iter()
            .map(|w| (w.window.as_nanos() as i64, w.limit))
            .collect();

        let mut admitted: Vec<i64> = Vec::new();
        let mut now = to_nanos(t0());
        for _ in 0..3000 {
            // Bursts (same instant), small steps and long pauses.
            now += match rng.below(10) {
                0..=3 => 0,
                4..=8 => rng.below(300_000_000) as i64,
                _ => rng.below(30_000_000_000) as i64,
            };
            let d = l.check_at("k", &p, DateTime::from_timestamp_nanos(now));
            let model_allows = specs
                .iter()
                .all(|&(w, lim)| count_in(&admitted, now, w) < lim);
            if bucketed {
                let widened_allows = specs.iter().all(|&(w, lim)| {
                    let width = w / BUCKETS as i64 + 1;
                    count_in(&admitted, now, w + 2 * width) < lim
                });
                assert!(
                    !d.is_allowed() || model_allows,
                    "seed {seed}: over-admitted"
                );
                assert_buckets_consistent(&l, "k");
                assert!(
                    d.is_allowed() || !widened_allows,
                    "seed {seed}: under-admitted past the bound"
                );
            } else {
                assert_eq!(d.is_allowed(), model_allows, "seed {seed} at {now}");
                if let Some(retry) = d.retry_after() {
                    let model_retry = specs
                        .iter()
                        .filter_map(|&(w, lim)| {
                            let lo = admitted.partition_point(|&t| t <= now - w);
                            let inside = &admitted[lo..];
                            (inside.len() as u64 >= lim)
                                .then(|| inside[inside.len() - lim as usize] + w - now)
                        })
                        .max()
                        .unwrap();
                    assert_eq!(retry, nanos_to_duration(model_retry), "seed {seed}");
                }
                for (status, &(w, lim)) in d.windows().iter().zip(&specs) {
                    let used = count_in(&admitted, now, w) + u64::from(d.is_allowed());
                    assert_eq!(status.remaining, lim - used.min(lim), "seed {seed}");
                }
            }
            if d.is_allowed() {
                admitted.push(now);
            }
        }
        // The invariant itself: slide each window over every admitted timestamp.
        for &(w, lim) in &specs {
            for &end in &admitted {
                assert!(
                    count_in(&admitted, end, w) <= lim,
                    "seed {seed}: window {w} over limit"
                );
            }
        }
        assert!(
            admitted.len() > 10,
            "seed {seed}: the test admitted too little to mean anything"
        );
    }
}

#[test]
fn large_limits_use_buckets_and_never_over_admit() {
    let (clock, l) = limiter();
    let l = l.with_exact_limit(100);
    let p = RateLimitPolicy::from_limits(Some(1000), None, None).unwrap();
    for _ in 0..1000 {
        assert!(l.check("k", &p).is_allowed());
    }
    let d = l.check("k", &p);
    assert_eq!(
        d.retry_after(),
        Some(Duration::from_nanos(468_750_000 * 129))
    );
    // The bucket (width 60 s / 128) counts in full until it has wholly left the window.
    clock.advance(chrono::Duration::seconds(60));
    assert!(!l.check("k", &p).is_allowed());
    clock.set(t0() + chrono::Duration::nanoseconds(468_750_000 * 129));
    assert!(l.check("k", &p).is_allowed());
    // Memory stays bounded: 129 counters, whatever the limit.
    let usage = l.usage("k").unwrap();
    assert!(usage.marks.len() <= 129);
    assert_eq!(usage.marks.iter().map(|m| m.count).sum::<u64>(), 1);
}

#[test]
fn idle_keys_are_evicted_after_their_longest_window() {
    let (clock, l) = limiter();
    let short = RateLimitPolicy::from_limits(Some(5), None, None).unwrap();
    let long = RateLimitPolicy::from_limits(Some(5), Some(50), None).unwrap();
    l.check("short", &short);
    l.check("long", &long);
    assert_eq!(l.len(), 2);
    clock.advance(chrono::Duration::seconds(59));
    assert_eq!(l.evict_idle(), 0);
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(l.evict_idle(), 1);
    assert!(l.usage("short").is_none());
    assert!(l.usage("long").is_some());
    clock.advance(chrono::Duration::minutes(59));
    assert_eq!(l.evict_idle(), 1);
    assert!(l.is_empty());
    // A fresh key after eviction has its full budget (nothing was lost).
    assert_eq!(l.check("long", &long).windows()[1].remaining, 49);
    assert!(l.remove("long"));
    assert!(!l.remove("long"));
}

#[test]
fn restore_keeps_a_daily_quota_across_a_restart() {
    let (clock, before) = limiter();
    let p = RateLimitPolicy::from_limits(Some(100), None, Some(10)).unwrap();
    for hour in 0..8 {
        clock.set(t0() + chrono::Duration::hours(hour));
        assert!(before.check("api", &p).is_allowed());
    }
    let usage = before.usage("api").unwrap();
    assert_eq!(usage.marks.len(), 8);
    assert_eq!(usage.windows[1].remaining, 2);

    // "Restart": a new limiter, seeded from the persisted marks.
    clock.set(t0() + chrono::Duration::hours(9));
    let after = RateLimiter::new(clock);
    after.restore("api", &p, &usage.marks);
    assert!(after.check("api", &p).is_allowed());
    assert!(after.check("api", &p).is_allowed());
    let d = after.check("api", &p);
    assert_eq!(d.retry_after(), Some(Duration::from_secs(15 * 3600)));
    assert_eq!(
        after.usage("api").unwrap().marks,
        before_plus(&usage.marks, t0() + chrono::Duration::hours(9), 2)
    );
}

fn before_plus(marks: &[UsageMark], at: DateTime<Utc>, count: u64) -> Vec<UsageMark> {
    let mut out = marks.to_vec();
    out.push(UsageMark { at, count });
    out
}

#[test]
fn restore_from_a_count_is_conservative() {
    let (clock, l) = limiter();
    let p = RateLimitPolicy::from_limits(Some(5), None, Some(100)).unwrap();
    clock.set(t0() + chrono::Duration::hours(30));
    // 97 calls counted some time in the day ending at 29:00; taken at 29:00.
    let at = t0() + chrono::Duration::hours(29);
    l.restore("k", &p, &[UsageMark { at, count: 97 }]);
    let s = l.status("k", &p);
    assert_eq!(
        s[0].remaining, 5,
        "the count is an hour old: outside the minute"
    );
    assert_eq!(s[1].remaining, 3);
    for _ in 0..3 {
        assert!(l.check("k", &p).is_allowed());
    }
    let d = l.check("k", &p);
    assert_eq!(d.retry_after(), Some(Duration::from_secs(23 * 3600)));
    // A count older than every window changes nothing; a huge one is capped at the limit.
    l.restore(
        "k2",
        &p,
        &[UsageMark {
            at: at - chrono::Duration::days(2),
            count: 1_000,
        }],
    );
    assert_eq!(l.status("k2", &p)[1].remaining, 100);
    l.restore(
        "k3",
        &p,
        &[UsageMark {
            at,
            count: u64::MAX,
        }],
    );
    assert_eq!(l.status("k3", &p)[1].remaining, 0);
    assert_eq!(
        l.usage("k3").unwrap().marks,
        vec![UsageMark { at, count: 100 }]
    );
}

#[test]
fn a_changed_policy_keeps_the_history() {
    let (clock, l) = limiter();
    let p1 = RateLimitPolicy::from_limits(Some(10), Some(100), None).unwrap();
    for _ in 0..6 {
        l.check("k", &p1);
    }
    clock.advance(chrono::Duration::minutes(2));
    let p2 = RateLimitPolicy::from_limits(Some(3), Some(8), Some(1000)).unwrap();
    let s = l.status("k", &p2);
    assert_eq!(
        s.iter().map(|w| w.remaining).collect::<Vec<_>>(),
        vec![3, 2, 994]
    );
    assert!(l.check("k", &p2).is_allowed());
    assert!(l.check("k", &p2).is_allowed());
    assert!(!l.check("k", &p2).is_allowed());
}

#[test]
fn many_threads_on_one_key_never_exceed_the_limit() {
    let clock = Arc::new(ManualClock::new(t0()));
    let l = Arc::new(RateLimiter::new(clock.clone()));
    let p = Arc::new(RateLimitPolicy::from_limits(Some(50), Some(120), None).unwrap());
    let threads = 8;
    for round in 0..3_u64 {
        let admitted = Arc::new(AtomicU64::new(0));
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (l, p, admitted, barrier) =
                    (l.clone(), p.clone(), admitted.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..200 {
                        if l.check("shared", &p).is_allowed() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Rounds one and two get the full minute; round three only what the hour has left.
        let expected = if round < 2 { 50 } else { 20 };
        assert_eq!(admitted.load(Ordering::Relaxed), expected, "round {round}");
        clock.advance(chrono::Duration::minutes(1));
    }
    assert_eq!(l.status("shared", &p)[1].remaining, 0);
}

#[test]
fn many_keys_are_independent() {
    let (_, l) = limiter();
    let tight = RateLimitPolicy::from_limits(Some(1), None, None).unwrap();
    let loose = RateLimitPolicy::from_limits(Some(3), None, None).unwrap();
    for i in 0..500 {
        assert!(l.check(&format!("client-{i}"), &tight).is_allowed());
    }
    assert!(!l.check("client-7", &tight).is_allowed());
    assert!(l.check("endpoint", &loose).is_allowed());
    assert_eq!(l.len(), 501);
}
