//! Access-token verification, the per-request cost of authentication, and the cost of the
//! password check a login pays.
//!
//! - `jwt/*`: issuing and verifying an access token, HS256 (the default) and EdDSA.
//! - `sessions/authenticate_*`: `Sessions::authenticate` on a SQLite store, what every
//!   `Authorization: Bearer` request pays: `cached` is the usual path (signature check and a
//!   session-cache hit); `uncached` turns the cache off (`TRAE_SESSION_CACHE_SECS=0`), so each
//!   call also reads the session and the user.
//! - `identity/clone_and_drop`: one clone of the wired `Identity` and its drop, which the HTTP
//!   server pays on every request because it hands `Identity` to handlers as request data.
//! - `password/*`: one argon2id verification at OWASP's parameters (19 MiB, t=2, p=1) through
//!   `PasswordHasher`, the bulk of a login.
//!
//! Run: `cargo bench -p trae-auth --bench tokens`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use trae_auth::{
    AccessTokens, Identity, IdentityRepos, OpaqueToken, PasswordHasher, PasswordParams,
    Registration, RequestMeta, TokenSettings,
};
use trae_core::{AuthConfig, SystemClock};
use trae_storage::Store;
use trae_storage::testing::TestDatabase;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

// A throwaway Ed25519 key pair (the one trae-auth's unit tests use), for benchmarks only.
const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBQoAmpOzpOdRBZX75a4S2l5cBtJ34EbIIny8ytfKK3V\n-----END PRIVATE KEY-----\n";
const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAtEEkIk0JNBUeMOf1Fq+Xz1Ydn010vkvPnnl5FHjWfOA=\n-----END PUBLIC KEY-----\n";

fn roles() -> Vec<String> {
    vec!["user".to_owned()]
}

fn jwt(c: &mut Criterion) {
    let hs256 = AccessTokens::hs256(SECRET, TokenSettings::default(), Arc::new(SystemClock))
        .expect("tokens");
    let eddsa = AccessTokens::eddsa(
        ED_PRIVATE.as_bytes(),
        ED_PUBLIC.as_bytes(),
        TokenSettings::default(),
        Arc::new(SystemClock),
    )
    .expect("tokens");
    for (name, tokens) in [("hs256", &hs256), ("eddsa", &eddsa)] {
        let (token, _) = tokens
            .issue(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), &roles())
            .expect("issue");
        c.bench_function(&format!("jwt/{name}_verify"), |b| {
            b.iter(|| tokens.verify(black_box(&token)).expect("valid"))
        });
        let roles = roles();
        c.bench_function(&format!("jwt/{name}_issue"), |b| {
            b.iter(|| {
                tokens
                    .issue(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), &roles)
                    .expect("issue")
            })
        });
    }
    let key = OpaqueToken::generate("trae_").expect("key");
    c.bench_function("opaque/sha256_digest", |b| {
        b.iter(|| OpaqueToken::digest(black_box(&key.plaintext)))
    });
}

/// Identity over a fresh SQLite file with the session cache trusting checks for
/// `cache_secs`, one registered user, and an access token of theirs.
async fn signed_in(db: &TestDatabase, cache_secs: u32) -> (Identity, String) {
    let store = Store::connect(&db.url).await.expect("store");
    let repos = IdentityRepos {
        users: store.user_repository(),
        sessions: store.session_repository(),
        roles: store.role_repository(),
        api_keys: store.api_key_repository(),
        audit: store.audit(),
    };
    let config = AuthConfig {
        session_cache_secs: cache_secs,
        ..AuthConfig::default()
    };
    let identity = Identity::new(
        repos,
        &config,
        SECRET,
        PasswordParams::INSECURE_FOR_TESTS,
        Arc::new(SystemClock),
    )
    .expect("identity");
    let meta = RequestMeta::default();
    let user = identity
        .accounts
        .register(
            Registration {
                username: "bench".into(),
                email: "bench@example.com".into(),
                password: "correct horse battery".into(),
                full_name: None,
            },
            &meta,
        )
        .await
        .expect("register");
    let pair = identity.sessions.start(&user).await.expect("session");
    (identity, pair.access_token)
}

fn sessions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // Long enough that no entry expires during the run.
    for (name, cache_secs) in [("cached", 3600), ("uncached", 0)] {
        let db = TestDatabase::sqlite();
        let (identity, token) = rt.block_on(signed_in(&db, cache_secs));
        rt.block_on(identity.sessions.authenticate(&token))
            .expect("authenticates");
        c.bench_function(&format!("sessions/authenticate_{name}"), |b| {
            b.to_async(&rt).iter(|| async {
                identity
                    .sessions
                    .authenticate(black_box(&token))
                    .await
                    .expect("authenticates")
            })
        });
        if cache_secs > 0 {
            c.bench_function("identity/clone_and_drop", |b| {
                b.iter(|| drop(black_box(identity.clone())))
            });
        }
    }
}

fn password(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let hasher = PasswordHasher::new(PasswordParams::OWASP, 1).expect("hasher");
    let stored = rt
        .block_on(hasher.hash("correct horse battery"))
        .expect("hash");
    let mut group = c.benchmark_group("password");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("argon2id_owasp_verify", |b| {
        b.to_async(&rt).iter(|| async {
            let v = hasher
                .verify(black_box("correct horse battery"), Some(&stored))
                .await
                .expect("verify");
            assert!(v.matches);
        })
    });
    group.finish();
}

criterion_group!(benches, jwt, sessions, password);
criterion_main!(benches);
