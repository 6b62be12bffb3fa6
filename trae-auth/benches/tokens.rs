//! Access-token verification, the per-request cost of authentication.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use trae_auth::{AccessTokens, OpaqueToken, TokenSettings};
use trae_core::SystemClock;

fn tokens(c: &mut Criterion) {
    let tokens = AccessTokens::hs256(
        b"0123456789abcdef0123456789abcdef",
        TokenSettings::default(),
        Arc::new(SystemClock),
    )
    .expect("tokens");
    let (token, _) = tokens
        .issue(
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            &["user".to_owned()],
        )
        .expect("issue");
    c.bench_function("jwt/hs256_verify", |b| {
        b.iter(|| tokens.verify(black_box(&token)).expect("valid"))
    });
    c.bench_function("jwt/hs256_issue", |b| {
        b.iter(|| tokens.issue(uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), &[]))
    });
    let key = OpaqueToken::generate("trae_").expect("key");
    c.bench_function("opaque/sha256_digest", |b| {
        b.iter(|| OpaqueToken::digest(black_box(&key.plaintext)))
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
