//! The shared rate-limit counter on real SQLite files and a real PostgreSQL server, with
//! several "nodes" (separate connections) reserving from it at once.

use std::sync::Arc;
use std::time::Duration;

use trae_core::apis::shared_quota::SharedQuota;
use trae_core::{Clock, ManualClock, RateLimitPolicy};
use trae_storage::{Store, storage_test};

fn per_minute(limit: u64) -> RateLimitPolicy {
    RateLimitPolicy::from_limits(Some(limit), None, None).unwrap()
}

storage_test!(nodes_share_one_limit, |url: String| async move {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let a_store = Store::connect(&url).await.unwrap();
    let b_store = Store::connect(&url).await.unwrap();
    let a = SharedQuota::new(a_store.quota_repository(), clock.clone());
    let b = SharedQuota::new(b_store.quota_repository(), clock.clone());
    let policy = per_minute(40); // batches of 2
    let mut admitted = 0;
    let mut refusal = None;
    for i in 0..100 {
        let node = if i % 2 == 0 { &a } else { &b };
        match node.acquire("ep", &policy).await.unwrap() {
            None => admitted += 1,
            Some(retry_after) => {
                refusal = Some(retry_after);
                break;
            }
        }
    }
    // Grants never pass the limit, and each node spends what it was granted.
    assert_eq!(admitted, 40);
    let retry_after = refusal.expect("the 41st call is refused");
    assert!(
        retry_after > Duration::from_secs(55) && retry_after <= Duration::from_secs(60),
        "{retry_after:?}"
    );
    assert!(b.acquire("ep", &policy).await.unwrap().is_some());
    // Other keys are not affected.
    assert!(a.acquire("other", &policy).await.unwrap().is_none());

    clock.advance(chrono::Duration::seconds(61));
    assert!(
        a.acquire("ep", &policy).await.unwrap().is_none(),
        "the window moved on"
    );
});

storage_test!(unspent_permits_go_back, |url: String| async move {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let a_store = Store::connect(&url).await.unwrap();
    let b_store = Store::connect(&url).await.unwrap();
    let a = SharedQuota::new(a_store.quota_repository(), clock.clone());
    let b = SharedQuota::new(b_store.quota_repository(), clock.clone());
    let policy = per_minute(40);
    // A reserves a batch of 2 and spends 1; B takes the rest of the minute.
    assert!(a.acquire("ep", &policy).await.unwrap().is_none());
    let mut b_admitted = 0;
    while b.acquire("ep", &policy).await.unwrap().is_none() {
        b_admitted += 1;
    }
    assert_eq!(b_admitted, 38, "A holds one permit it has not spent");
    // A permit taken and not used goes back to A's allowance.
    assert!(a.acquire("ep", &policy).await.unwrap().is_none());
    a.give_back("ep");
    // Released at shutdown, it becomes B's.
    a.release_all().await;
    assert!(b.acquire("ep", &policy).await.unwrap().is_none());
    assert!(b.acquire("ep", &policy).await.unwrap().is_some());
    assert_eq!(
        a.trim().await.unwrap(),
        0,
        "nothing is old enough to trim yet"
    );
    clock.advance(chrono::Duration::days(2));
    assert!(a.trim().await.unwrap() > 0);
});

storage_test!(
    concurrent_reservations_never_overgrant,
    |url: String| async move {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(chrono::Utc::now()));
        let mut handles = Vec::new();
        for _ in 0..2 {
            let store = Store::connect(&url).await.unwrap();
            let node = SharedQuota::new(store.quota_repository(), Arc::clone(&clock));
            for _ in 0..4 {
                let node = node.clone();
                handles.push(tokio::spawn(async move {
                    let policy = per_minute(100);
                    let mut admitted = 0;
                    while node.acquire("hot", &policy).await.unwrap().is_none() {
                        admitted += 1;
                    }
                    admitted
                }));
            }
        }
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        assert_eq!(total, 100);
    }
);
