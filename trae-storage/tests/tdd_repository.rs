//! TDD agent runs and their steps on real SQLite files and a real PostgreSQL server.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use trae_core::tdd::edit::{EditBlock, EditOutcome, EditResult, Placement, Refusal};
use trae_core::tdd::run::{RunEnd, RunFilter, RunSpec, RunStatus, TddRepository, TddRun, TddStep};
use trae_core::tdd::test_report::{FailureKind, TestFailure, TestReport};
use trae_core::{BudgetLimits, Error, PageRequest};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

async fn repo(url: &str) -> Arc<dyn TddRepository> {
    Store::connect(url)
        .await
        .expect("open the test store")
        .tdd_repository()
}

/// A fixed instant plus `ms` milliseconds (PostgreSQL keeps microseconds, so no finer).
fn at(ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, 9, 30, 0).unwrap() + Duration::milliseconds(ms)
}

/// A queued run with nothing optional set.
fn queued(created_at: DateTime<Utc>) -> TddRun {
    TddRun {
        id: Uuid::now_v7(),
        owner: None,
        spec: RunSpec {
            project: "/srv/projects/calc".to_owned(),
            test_command: vec!["pytest".to_owned(), "-q".to_owned()],
            max_iterations: 5,
            model: None,
            budget: BudgetLimits::default(),
        },
        status: RunStatus::Queued,
        reason: None,
        project_digest: None,
        iterations: 0,
        tokens: 0,
        cost: 0.0,
        final_report: None,
        files: BTreeMap::new(),
        originals: BTreeMap::new(),
        created_at,
        started_at: None,
        finished_at: None,
        accepted_at: None,
    }
}

fn owned_by(owner: Uuid, created_at: DateTime<Utc>) -> TddRun {
    TddRun {
        owner: Some(owner),
        ..queued(created_at)
    }
}

fn failing_report() -> TestReport {
    TestReport {
        passed: 3,
        failed: 1,
        errors: 0,
        skipped: 2,
        failures: vec![TestFailure {
            test_id: "tests/test_calc.py::test_divide".to_owned(),
            file: Some("tests/test_calc.py".to_owned()),
            line: Some(12),
            message: "assert 2 == 2.5".to_owned(),
            excerpt: "def test_divide():\n>   assert divide(5, 2) == 2.5\nE   assert 2 == 2.5"
                .to_owned(),
            kind: FailureKind::Failed,
        }],
        exit_code: Some(1),
    }
}

fn green_report() -> TestReport {
    TestReport {
        passed: 4,
        skipped: 2,
        exit_code: Some(0),
        ..TestReport::default()
    }
}

fn edits() -> Vec<EditResult> {
    vec![
        EditResult {
            block: EditBlock {
                path: "calc.py".to_owned(),
                search: "    return a // b\n".to_owned(),
                replace: "    return a / b\n".to_owned(),
                whole_file: false,
            },
            outcome: EditOutcome::Applied {
                placement: Placement::Indentation,
            },
        },
        EditResult {
            block: EditBlock {
                path: "../etc/passwd".to_owned(),
                search: String::new(),
                replace: "root".to_owned(),
                whole_file: true,
            },
            outcome: EditOutcome::Refused {
                reason: Refusal::UnsafePath,
                hint: Some("calc.py:3".to_owned()),
            },
        },
        EditResult {
            block: EditBlock {
                path: "calc.py".to_owned(),
                search: "missing text here".to_owned(),
                replace: "x".to_owned(),
                whole_file: false,
            },
            outcome: EditOutcome::Refused {
                reason: Refusal::NotFound,
                hint: None,
            },
        },
    ]
}

/// Step 0: the tests as they are, no model round.
fn first_test_run(run_id: Uuid) -> TddStep {
    TddStep {
        run_id,
        index: 0,
        prompt_summary: None,
        answer: None,
        edits: Vec::new(),
        report: Some(failing_report()),
        tokens: 0,
        cost: 0.0,
        elapsed_ms: 850,
        at: at(1_000),
    }
}

/// A model round `index` spending `tokens` and `cost`.
fn model_round(run_id: Uuid, index: u32, tokens: u64, cost: f64) -> TddStep {
    TddStep {
        run_id,
        index,
        prompt_summary: Some(format!("round {index}: 1 failure, calc.py included")),
        answer: Some(format!("<<<<<<< SEARCH round {index}")),
        edits: edits(),
        report: Some(green_report()),
        tokens,
        cost,
        elapsed_ms: 12_345,
        at: at(2_000 + i64::from(index)),
    }
}

fn end(status: RunStatus) -> RunEnd {
    RunEnd {
        status,
        reason: format!("ended as {}", status.as_str()),
        final_report: None,
        files: BTreeMap::new(),
        originals: BTreeMap::new(),
    }
}

fn assert_not_found(err: &Error, id: Uuid) {
    match err {
        Error::NotFound {
            entity,
            id: missing,
        } => {
            assert_eq!(*entity, "tdd run");
            assert_eq!(*missing, id.to_string());
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

storage_test!(
    a_new_run_round_trips_with_nothing_optional_set,
    |url: String| async move {
        let runs = repo(&url).await;
        let run = queued(at(0));
        runs.create(&run).await.unwrap();
        assert_eq!(runs.get(run.id).await.unwrap(), run);
        assert_eq!(runs.steps(run.id).await.unwrap(), Vec::new());
    }
);

storage_test!(a_run_round_trips_every_field, |url: String| async move {
    let runs = repo(&url).await;
    let owner = Uuid::now_v7();
    let mut run = owned_by(owner, at(0));
    run.spec = RunSpec {
        project: "/srv/projects/élan calc".to_owned(),
        test_command: vec![
            "cargo".to_owned(),
            "test".to_owned(),
            "--".to_owned(),
            "it's \"quoted\"".to_owned(),
        ],
        max_iterations: 50,
        model: Some("gpt-4o-mini".to_owned()),
        budget: BudgetLimits {
            tokens: Some(200_000),
            cost: Some(1.25),
            wall_time: Some(std::time::Duration::from_millis(600_500)),
            call_tokens: Some(4_096),
        },
    };
    runs.create(&run).await.unwrap();
    runs.start(run.id, "sha256:abc123", at(500)).await.unwrap();
    runs.add_step(&first_test_run(run.id)).await.unwrap();
    runs.add_step(&model_round(run.id, 1, 1_500, 0.125))
        .await
        .unwrap();
    let files = BTreeMap::from([
        (
            "calc.py".to_owned(),
            Some("def divide(a, b):\n    return a / b\n".to_owned()),
        ),
        ("old_helper.py".to_owned(), None),
    ]);
    let ended = RunEnd {
        status: RunStatus::Passed,
        reason: "the tests pass after 1 round".to_owned(),
        final_report: Some(green_report()),
        files: files.clone(),
        originals: BTreeMap::from([
            (
                "calc.py".to_owned(),
                Some("def add(a, b):\n    return a - b\n".to_owned()),
            ),
            ("new_helper.py".to_owned(), None),
        ]),
    };
    assert!(runs.finish(run.id, &ended, at(3_000)).await.unwrap());
    runs.mark_accepted(run.id, at(4_000)).await.unwrap();

    let expected = TddRun {
        status: RunStatus::Passed,
        reason: Some("the tests pass after 1 round".to_owned()),
        project_digest: Some("sha256:abc123".to_owned()),
        iterations: 1,
        tokens: 1_500,
        cost: 0.125,
        final_report: Some(green_report()),
        files,
        originals: ended.originals.clone(),
        started_at: Some(at(500)),
        finished_at: Some(at(3_000)),
        accepted_at: Some(at(4_000)),
        ..run.clone()
    };
    assert_eq!(runs.get(run.id).await.unwrap(), expected);
    assert_eq!(
        runs.steps(run.id).await.unwrap(),
        vec![first_test_run(run.id), model_round(run.id, 1, 1_500, 0.125)]
    );
});

storage_test!(start_only_starts_a_queued_run, |url: String| async move {
    let runs = repo(&url).await;
    let run = queued(at(0));
    runs.create(&run).await.unwrap();
    runs.start(run.id, "digest-1", at(100)).await.unwrap();
    let started = runs.get(run.id).await.unwrap();
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(started.project_digest.as_deref(), Some("digest-1"));
    assert_eq!(started.started_at, Some(at(100)));

    let err = runs.start(run.id, "digest-2", at(200)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(runs.get(run.id).await.unwrap(), started, "nothing changed");

    let cancelled = queued(at(0));
    runs.create(&cancelled).await.unwrap();
    assert!(
        runs.finish(cancelled.id, &end(RunStatus::Cancelled), at(50))
            .await
            .unwrap()
    );
    let err = runs
        .start(cancelled.id, "digest", at(100))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");

    let unknown = Uuid::now_v7();
    assert_not_found(
        &runs.start(unknown, "digest", at(100)).await.unwrap_err(),
        unknown,
    );
});

storage_test!(
    steps_add_their_tokens_and_cost_and_count_model_rounds,
    |url: String| async move {
        let runs = repo(&url).await;
        let run = queued(at(0));
        runs.create(&run).await.unwrap();
        runs.start(run.id, "digest", at(1)).await.unwrap();
        let steps = vec![
            first_test_run(run.id),
            model_round(run.id, 1, 1_000, 0.25),
            model_round(run.id, 2, 2_500, 0.5),
            // A round whose model call failed after spending: tokens count, no model round.
            TddStep {
                answer: None,
                prompt_summary: Some("round 3".to_owned()),
                edits: Vec::new(),
                report: None,
                ..model_round(run.id, 3, 300, 0.0625)
            },
        ];
        for step in &steps {
            runs.add_step(step).await.unwrap();
        }
        let stored = runs.get(run.id).await.unwrap();
        assert_eq!(stored.iterations, 2, "only steps with an answer are rounds");
        assert_eq!(stored.tokens, 3_800);
        assert_eq!(stored.cost, 0.8125);
        assert_eq!(runs.steps(run.id).await.unwrap(), steps);
    }
);

storage_test!(steps_come_back_in_index_order, |url: String| async move {
    let runs = repo(&url).await;
    let run = queued(at(0));
    runs.create(&run).await.unwrap();
    for index in [2, 0, 10, 1] {
        runs.add_step(&model_round(run.id, index, 1, 0.0))
            .await
            .unwrap();
    }
    let indexes: Vec<u32> = runs
        .steps(run.id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.index)
        .collect();
    assert_eq!(indexes, [0, 1, 2, 10]);
});

storage_test!(
    a_duplicate_step_is_a_conflict_and_changes_nothing,
    |url: String| async move {
        let runs = repo(&url).await;
        let run = queued(at(0));
        runs.create(&run).await.unwrap();
        let step = model_round(run.id, 1, 1_000, 0.25);
        runs.add_step(&step).await.unwrap();
        let before = runs.get(run.id).await.unwrap();

        let again = TddStep {
            answer: Some("another answer".to_owned()),
            ..model_round(run.id, 1, 9_999, 9.0)
        };
        let err = runs.add_step(&again).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert_eq!(
            runs.get(run.id).await.unwrap(),
            before,
            "the run's counts were rolled back with the step"
        );
        assert_eq!(runs.steps(run.id).await.unwrap(), vec![step]);
    }
);

storage_test!(
    steps_of_an_unknown_run_are_not_found,
    |url: String| async move {
        let runs = repo(&url).await;
        let unknown = Uuid::now_v7();
        assert_not_found(
            &runs.add_step(&first_test_run(unknown)).await.unwrap_err(),
            unknown,
        );
        assert_not_found(&runs.steps(unknown).await.unwrap_err(), unknown);
    }
);

storage_test!(finish_ends_a_run_only_once, |url: String| async move {
    let runs = repo(&url).await;
    let run = queued(at(0));
    runs.create(&run).await.unwrap();
    runs.start(run.id, "digest", at(10)).await.unwrap();
    let first = RunEnd {
        status: RunStatus::Failed,
        reason: "out of iterations".to_owned(),
        final_report: Some(failing_report()),
        files: BTreeMap::from([("calc.py".to_owned(), Some("x = 1\n".to_owned()))]),
        originals: BTreeMap::new(),
    };
    assert!(runs.finish(run.id, &first, at(20)).await.unwrap());
    let ended = runs.get(run.id).await.unwrap();
    assert_eq!(ended.status, RunStatus::Failed);
    assert_eq!(ended.reason.as_deref(), Some("out of iterations"));
    assert_eq!(ended.final_report, Some(failing_report()));
    assert_eq!(ended.files, first.files);
    assert_eq!(ended.finished_at, Some(at(20)));

    let second = RunEnd {
        status: RunStatus::Cancelled,
        reason: "cancelled by its owner".to_owned(),
        final_report: None,
        files: BTreeMap::new(),
        originals: BTreeMap::new(),
    };
    assert!(!runs.finish(run.id, &second, at(30)).await.unwrap());
    assert_eq!(runs.get(run.id).await.unwrap(), ended, "nothing changed");

    let unknown = Uuid::now_v7();
    assert_not_found(
        &runs
            .finish(unknown, &end(RunStatus::Error), at(30))
            .await
            .unwrap_err(),
        unknown,
    );
});

storage_test!(
    a_queued_run_can_end_without_starting,
    |url: String| async move {
        let runs = repo(&url).await;
        let run = queued(at(0));
        runs.create(&run).await.unwrap();
        assert!(
            runs.finish(run.id, &end(RunStatus::Cancelled), at(5))
                .await
                .unwrap()
        );
        let stored = runs.get(run.id).await.unwrap();
        assert_eq!(stored.status, RunStatus::Cancelled);
        assert_eq!(stored.started_at, None);
        assert_eq!(stored.finished_at, Some(at(5)));
    }
);

storage_test!(
    finishing_with_a_status_that_is_not_final_is_refused,
    |url: String| async move {
        let runs = repo(&url).await;
        let run = queued(at(0));
        runs.create(&run).await.unwrap();
        for status in [RunStatus::Queued, RunStatus::Running] {
            let err = runs.finish(run.id, &end(status), at(5)).await.unwrap_err();
            assert!(matches!(err, Error::Validation { .. }), "{err:?}");
        }
        assert_eq!(runs.get(run.id).await.unwrap(), run);
    }
);

storage_test!(
    accepting_a_run_twice_is_a_conflict,
    |url: String| async move {
        let runs = repo(&url).await;
        let run = queued(at(0));
        runs.create(&run).await.unwrap();
        runs.start(run.id, "digest", at(1)).await.unwrap();
        assert!(
            runs.finish(run.id, &end(RunStatus::Passed), at(2))
                .await
                .unwrap()
        );
        runs.mark_accepted(run.id, at(3)).await.unwrap();
        let err = runs.mark_accepted(run.id, at(4)).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert_eq!(
            runs.get(run.id).await.unwrap().accepted_at,
            Some(at(3)),
            "the first acceptance stands"
        );

        let unknown = Uuid::now_v7();
        assert_not_found(
            &runs.mark_accepted(unknown, at(4)).await.unwrap_err(),
            unknown,
        );
    }
);

storage_test!(
    creating_a_run_twice_is_a_conflict,
    |url: String| async move {
        let runs = repo(&url).await;
        let run = queued(at(0));
        runs.create(&run).await.unwrap();
        let err = runs.create(&run).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    }
);

storage_test!(an_unknown_run_is_not_found, |url: String| async move {
    let runs = repo(&url).await;
    let unknown = Uuid::now_v7();
    assert_not_found(&runs.get(unknown).await.unwrap_err(), unknown);
});

storage_test!(
    list_is_newest_first_filtered_by_owner_and_status,
    |url: String| async move {
        let runs = repo(&url).await;
        let alice = Uuid::now_v7();
        let bob = Uuid::now_v7();
        let a1 = owned_by(alice, at(1_000));
        let b1 = owned_by(bob, at(2_000));
        let a2 = owned_by(alice, at(3_000));
        // Two created at the same instant: the larger id comes first.
        let (mut a3, mut a4) = (owned_by(alice, at(4_000)), owned_by(alice, at(4_000)));
        if a3.id < a4.id {
            std::mem::swap(&mut a3, &mut a4);
        }
        let system = queued(at(5_000));
        for run in [&a2, &system, &a1, &a4, &b1, &a3] {
            runs.create(run).await.unwrap();
        }
        runs.start(a2.id, "digest", at(3_100)).await.unwrap();
        runs.start(b1.id, "digest", at(2_100)).await.unwrap();

        let ids = |page: &trae_core::Page<TddRun>| -> Vec<Uuid> {
            page.items.iter().map(|r| r.id).collect()
        };
        let all = runs
            .list(&RunFilter::default(), PageRequest::default())
            .await
            .unwrap();
        assert_eq!(ids(&all), [system.id, a3.id, a4.id, a2.id, b1.id, a1.id]);
        assert_eq!(all.total, 6);
        assert_eq!(all.items[3], runs.get(a2.id).await.unwrap());

        let alices = RunFilter {
            owner: Some(alice),
            status: None,
        };
        let page = runs
            .list(&alices, PageRequest::new(Some(2), Some(1)).unwrap())
            .await
            .unwrap();
        assert_eq!(ids(&page), [a4.id, a2.id]);
        assert_eq!((page.total, page.limit, page.offset), (4, 2, 1));

        let running = RunFilter {
            owner: None,
            status: Some(RunStatus::Running),
        };
        let page = runs.list(&running, PageRequest::default()).await.unwrap();
        assert_eq!(ids(&page), [a2.id, b1.id]);
        assert_eq!(page.total, 2);

        let alices_running = RunFilter {
            owner: Some(alice),
            status: Some(RunStatus::Running),
        };
        let page = runs
            .list(&alices_running, PageRequest::default())
            .await
            .unwrap();
        assert_eq!(ids(&page), [a2.id]);
        assert_eq!(page.total, 1);

        let nobody = RunFilter {
            owner: Some(Uuid::now_v7()),
            status: None,
        };
        let page = runs.list(&nobody, PageRequest::default()).await.unwrap();
        assert!(page.items.is_empty());
        assert_eq!(page.total, 0);

        let past_the_end = runs
            .list(
                &RunFilter::default(),
                PageRequest::new(Some(10), Some(6)).unwrap(),
            )
            .await
            .unwrap();
        assert!(past_the_end.items.is_empty());
        assert_eq!(past_the_end.total, 6);
    }
);

storage_test!(
    the_developer_role_may_run_agents,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let roles = store.role_repository();
        let holds = |role: &'static str| {
            let roles = Arc::clone(&roles);
            async move {
                roles
                    .permissions_of(&[role.to_owned()])
                    .await
                    .unwrap()
                    .iter()
                    .any(|p| p.as_str() == "agents:run")
            }
        };
        assert!(holds("developer").await);
        assert!(!holds("user").await);
        assert!(!holds("viewer").await);
    }
);

storage_test!(
    reverting_the_migration_drops_the_runs_and_the_grant,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let status = store.migration_status().await.unwrap();
        let position = status
            .iter()
            .position(|m| m.name == "m20261208_000022_create_tdd_runs")
            .expect("the migration is listed");
        let steps = u32::try_from(status.len() - position).unwrap();
        store.migrate_down(steps).await.unwrap();
        let developer = store
            .role_repository()
            .permissions_of(&["developer".to_owned()])
            .await
            .unwrap();
        assert!(!developer.iter().any(|p| p.as_str() == "agents:run"));
        let err = store
            .tdd_repository()
            .get(Uuid::now_v7())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Storage(_)), "no table: {err:?}");

        store.migrate_up().await.unwrap();
        let runs = store.tdd_repository();
        let run = queued(at(0));
        runs.create(&run).await.unwrap();
        assert_eq!(runs.get(run.id).await.unwrap(), run);
    }
);
