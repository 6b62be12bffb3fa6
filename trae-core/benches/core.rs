//! Hot paths of trae-core: validating pet input and publishing events.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use trae_core::pet::{validate_name, validate_tags};
use trae_core::{BroadcastBus, EventBus, PageRequest, SystemClock};

fn validation(c: &mut Criterion) {
    let tags: Vec<String> = (0..10).map(|i| format!("tag-{i}")).collect();
    c.bench_function("pet/validate_name", |b| {
        b.iter(|| validate_name(black_box("  Rex the dog  ")))
    });
    c.bench_function("pet/validate_10_tags", |b| {
        b.iter(|| validate_tags(black_box(&tags)))
    });
    c.bench_function("page/new", |b| {
        b.iter(|| PageRequest::new(black_box(Some(50)), black_box(Some(100))))
    });
}

fn events(c: &mut Criterion) {
    let bus = BroadcastBus::new(Arc::new(SystemClock), 1024);
    let _subscriber = bus.subscribe();
    let payload = serde_json::json!({"id": "01a2135a-e3b6-71e5-8e3d-3a2fef84882f"});
    c.bench_function("events/publish_one_subscriber", |b| {
        b.iter(|| bus.publish("bench", "tick", black_box(payload.clone())))
    });
}

criterion_group!(benches, validation, events);
criterion_main!(benches);
