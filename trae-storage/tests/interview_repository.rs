//! SOLO genesis interviews, their turns and specs on real SQLite files and a real PostgreSQL
//! server.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use trae_core::solo::interview::{
    Interview, InterviewRepository, InterviewStatus, ProjectType, QuestionSource, Turn,
};
use trae_core::solo::spec::{Feature, Spec, SpecVersion};
use trae_core::{Error, Page, PageRequest, User};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

async fn repo(url: &str) -> Arc<dyn InterviewRepository> {
    Store::connect(url)
        .await
        .expect("open the test store")
        .interview_repository()
}

/// A fixed instant plus `us` microseconds (PostgreSQL keeps microseconds, so no finer).
fn at(us: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + Duration::microseconds(us)
}

/// A template question, answered at `answered` when given.
fn template_turn(index: u32, answered: Option<i64>) -> Turn {
    Turn {
        index,
        question: format!("What are the goals? ({index})"),
        key: Some("goals".to_owned()),
        source: QuestionSource::Template,
        fallback: None,
        answer: answered.map(|_| format!("Answer {index}: track todos, fast")),
        asked_at: at(i64::from(index) * 1_000 + 1),
        answered_at: answered.map(at),
    }
}

/// A model question, unanswered.
fn model_turn(index: u32) -> Turn {
    Turn {
        index,
        question: format!("Who uses it, and \"how\"? ({index})"),
        key: None,
        source: QuestionSource::Model,
        fallback: None,
        answer: None,
        asked_at: at(i64::from(index) * 1_000 + 7),
        answered_at: None,
    }
}

/// An open interview with no owner and no turns, begun at `created`.
fn interview(created: i64) -> Interview {
    Interview {
        id: Uuid::now_v7(),
        owner: None,
        project_type: ProjectType::Api,
        idea: "A todo API\nwith tags — and élan".to_owned(),
        status: InterviewStatus::Open,
        turns: Vec::new(),
        spec_version: 0,
        created_at: at(created),
        updated_at: at(created),
    }
}

fn owned_by(owner: Uuid, created: i64) -> Interview {
    Interview {
        owner: Some(owner),
        turns: vec![template_turn(0, None)],
        ..interview(created)
    }
}

fn spec_version(interview_id: Uuid, version: u32, created: i64) -> SpecVersion {
    let spec = Spec {
        title: format!("Todo API v{version}"),
        summary: "A small API for todos.".to_owned(),
        goals: vec!["Track todos".to_owned()],
        users: vec!["Developers".to_owned()],
        features: vec![Feature {
            name: "Create".to_owned(),
            description: "POST a todo".to_owned(),
            acceptance: vec!["POST /todos returns 201".to_owned()],
        }],
        constraints: vec!["Rust".to_owned()],
        out_of_scope: Vec::new(),
    };
    SpecVersion {
        interview_id,
        version,
        project_type: ProjectType::Api,
        markdown: spec.to_markdown(),
        spec,
        source: if version == 1 {
            QuestionSource::Model
        } else {
            QuestionSource::Template
        },
        created_at: at(created),
    }
}

fn assert_not_found(err: &Error, entity: &str) {
    match err {
        Error::NotFound { entity: found, .. } => assert_eq!(*found, entity),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn ids(page: &Page<Interview>) -> Vec<Uuid> {
    page.items.iter().map(|i| i.id).collect()
}

storage_test!(
    an_interview_round_trips_with_its_turns,
    |url: String| async move {
        let interviews = repo(&url).await;
        let answered = template_turn(0, Some(500));
        let stood_in = Turn {
            fallback: Some("no model is configured".to_owned()),
            key: Some("features".to_owned()),
            ..template_turn(1, Some(1_500))
        };
        let full = Interview {
            owner: Some(Uuid::now_v7()),
            project_type: ProjectType::DataPipeline,
            turns: vec![answered, stood_in, model_turn(2)],
            updated_at: at(2_500),
            ..interview(0)
        };
        interviews.create(&full).await.unwrap();
        assert_eq!(interviews.get(full.id).await.unwrap(), full);

        let bare = interview(10);
        interviews.create(&bare).await.unwrap();
        assert_eq!(interviews.get(bare.id).await.unwrap(), bare);
    }
);

storage_test!(turns_come_back_in_index_order, |url: String| async move {
    let interviews = repo(&url).await;
    let created = Interview {
        turns: vec![model_turn(10), template_turn(2, Some(3)), model_turn(0)],
        ..interview(0)
    };
    interviews.create(&created).await.unwrap();
    let indexes: Vec<u32> = interviews
        .get(created.id)
        .await
        .unwrap()
        .turns
        .iter()
        .map(|t| t.index)
        .collect();
    assert_eq!(indexes, [0, 2, 10]);
});

storage_test!(
    creating_an_interview_twice_is_a_conflict,
    |url: String| async move {
        let interviews = repo(&url).await;
        let created = owned_by(Uuid::now_v7(), 0);
        interviews.create(&created).await.unwrap();
        let again = Interview {
            idea: "another idea".to_owned(),
            ..created.clone()
        };
        let err = interviews.create(&again).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert_eq!(interviews.get(created.id).await.unwrap(), created);
    }
);

storage_test!(
    an_unknown_interview_is_not_found,
    |url: String| async move {
        let interviews = repo(&url).await;
        let unknown = Uuid::now_v7();
        match interviews.get(unknown).await.unwrap_err() {
            Error::NotFound { entity, id } => {
                assert_eq!(entity, "interview");
                assert_eq!(id, unknown.to_string());
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
);

storage_test!(
    list_is_newest_first_filtered_by_owner_and_paged,
    |url: String| async move {
        let interviews = repo(&url).await;
        let alice = Uuid::now_v7();
        let bob = Uuid::now_v7();
        let a1 = owned_by(alice, 1_000);
        let b1 = owned_by(bob, 2_000);
        let a2 = Interview {
            turns: vec![template_turn(0, Some(3_100)), model_turn(1)],
            ..owned_by(alice, 3_000)
        };
        // Two begun at the same instant: the larger id comes first.
        let (mut a3, mut a4) = (owned_by(alice, 4_000), owned_by(alice, 4_000));
        if a3.id < a4.id {
            std::mem::swap(&mut a3, &mut a4);
        }
        let system = interview(5_000);
        for created in [&a2, &system, &a1, &a4, &b1, &a3] {
            interviews.create(created).await.unwrap();
        }

        let all = interviews.list(None, PageRequest::default()).await.unwrap();
        assert_eq!(ids(&all), [system.id, a3.id, a4.id, a2.id, b1.id, a1.id]);
        assert_eq!(all.total, 6);
        assert_eq!(all.items[0], system, "no turns");
        assert_eq!(all.items[3], a2, "with its turns");

        let page = interviews
            .list(Some(alice), PageRequest::new(Some(2), Some(1)).unwrap())
            .await
            .unwrap();
        assert_eq!(ids(&page), [a4.id, a2.id]);
        assert_eq!((page.total, page.limit, page.offset), (4, 2, 1));
        assert_eq!(page.items, [a4.clone(), a2.clone()]);

        let bobs = interviews
            .list(Some(bob), PageRequest::default())
            .await
            .unwrap();
        assert_eq!(bobs.items, [b1]);
        assert_eq!(bobs.total, 1);

        let nobody = interviews
            .list(Some(Uuid::now_v7()), PageRequest::default())
            .await
            .unwrap();
        assert!(nobody.items.is_empty());
        assert_eq!(nobody.total, 0);

        let past_the_end = interviews
            .list(None, PageRequest::new(Some(10), Some(6)).unwrap())
            .await
            .unwrap();
        assert!(past_the_end.items.is_empty());
        assert_eq!(past_the_end.total, 6);
    }
);

storage_test!(
    replace_turns_drops_the_later_turns_and_inserts_the_new_ones,
    |url: String| async move {
        let interviews = repo(&url).await;
        let created = Interview {
            turns: vec![
                template_turn(0, Some(100)),
                template_turn(1, Some(200)),
                template_turn(2, Some(300)),
                model_turn(3),
            ],
            updated_at: at(300),
            ..interview(0)
        };
        interviews.create(&created).await.unwrap();
        let seen = interviews.get(created.id).await.unwrap().updated_at;

        // Turn 1 is answered again: turns 2 and 3 go, a new question follows.
        let revised = Turn {
            answer: Some("a revised answer".to_owned()),
            answered_at: Some(at(9_000)),
            ..template_turn(1, Some(200))
        };
        let next = model_turn(2);
        interviews
            .replace_turns(
                created.id,
                seen,
                1,
                &[revised.clone(), next.clone()],
                InterviewStatus::Open,
                at(9_000),
            )
            .await
            .unwrap();
        let stored = interviews.get(created.id).await.unwrap();
        assert_eq!(
            stored,
            Interview {
                turns: vec![template_turn(0, Some(100)), revised, next],
                updated_at: at(9_000),
                ..created.clone()
            }
        );

        // The last answer: nothing new asked, the status changes.
        let last = Turn {
            answer: Some("everyone".to_owned()),
            answered_at: Some(at(9_500)),
            ..model_turn(2)
        };
        interviews
            .replace_turns(
                created.id,
                stored.updated_at,
                2,
                std::slice::from_ref(&last),
                InterviewStatus::Complete,
                at(9_500),
            )
            .await
            .unwrap();
        let done = interviews.get(created.id).await.unwrap();
        assert_eq!(done.status, InterviewStatus::Complete);
        assert_eq!(done.updated_at, at(9_500));
        assert_eq!(done.turns.len(), 3);
        assert_eq!(done.turns[2], last);

        // Replacing from past the end drops nothing.
        interviews
            .replace_turns(
                created.id,
                done.updated_at,
                7,
                &[],
                InterviewStatus::Open,
                at(9_600),
            )
            .await
            .unwrap();
        let after = interviews.get(created.id).await.unwrap();
        assert_eq!(after.turns, done.turns);
        assert_eq!(
            (after.status, after.updated_at),
            (InterviewStatus::Open, at(9_600))
        );
    }
);

storage_test!(
    a_stale_seen_is_a_conflict_and_changes_nothing,
    |url: String| async move {
        let interviews = repo(&url).await;
        let created = Interview {
            turns: vec![template_turn(0, Some(100)), model_turn(1)],
            updated_at: at(100),
            ..interview(0)
        };
        interviews.create(&created).await.unwrap();
        let seen = interviews.get(created.id).await.unwrap().updated_at;

        // The first of two answers to the same question wins.
        let first = Turn {
            answer: Some("first".to_owned()),
            answered_at: Some(at(200)),
            ..model_turn(1)
        };
        interviews
            .replace_turns(
                created.id,
                seen,
                1,
                &[first, model_turn(2)],
                InterviewStatus::Open,
                at(200),
            )
            .await
            .unwrap();
        let before = interviews.get(created.id).await.unwrap();

        let second = Turn {
            answer: Some("second".to_owned()),
            answered_at: Some(at(201)),
            ..model_turn(1)
        };
        let err = interviews
            .replace_turns(
                created.id,
                seen,
                0,
                &[second],
                InterviewStatus::Complete,
                at(201),
            )
            .await
            .unwrap_err();
        match &err {
            Error::Conflict(message) => {
                assert_eq!(message, "the interview changed meanwhile; reload it");
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
        assert_eq!(interviews.get(created.id).await.unwrap(), before);
    }
);

storage_test!(
    times_are_kept_to_the_microsecond_and_compared_so,
    |url: String| async move {
        let interviews = repo(&url).await;
        let fine = at(123_456) + Duration::nanoseconds(789);
        let created = Interview {
            turns: vec![Turn {
                asked_at: fine,
                ..model_turn(0)
            }],
            created_at: fine,
            updated_at: fine,
            ..interview(0)
        };
        interviews.create(&created).await.unwrap();
        let stored = interviews.get(created.id).await.unwrap();
        assert_eq!(stored.updated_at, at(123_456));
        assert_eq!(stored.created_at, at(123_456));
        assert_eq!(stored.turns[0].asked_at, at(123_456));

        // Both the time as the caller held it and as the repository returned it match.
        let later = at(200_000) + Duration::nanoseconds(1);
        interviews
            .replace_turns(created.id, fine, 0, &[], InterviewStatus::Open, later)
            .await
            .unwrap();
        interviews
            .replace_turns(
                created.id,
                interviews.get(created.id).await.unwrap().updated_at,
                0,
                &[],
                InterviewStatus::Open,
                at(300_000),
            )
            .await
            .unwrap();
        assert_eq!(
            interviews.get(created.id).await.unwrap().updated_at,
            at(300_000)
        );
    }
);

storage_test!(
    turns_before_the_replaced_ones_are_refused,
    |url: String| async move {
        let interviews = repo(&url).await;
        let created = Interview {
            turns: vec![template_turn(0, Some(1)), model_turn(1)],
            ..interview(0)
        };
        interviews.create(&created).await.unwrap();
        let err = interviews
            .replace_turns(
                created.id,
                created.updated_at,
                1,
                &[model_turn(0)],
                InterviewStatus::Open,
                at(5),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err:?}");
        assert_eq!(interviews.get(created.id).await.unwrap(), created);
    }
);

storage_test!(
    a_missing_interview_cannot_change,
    |url: String| async move {
        let interviews = repo(&url).await;
        let unknown = Uuid::now_v7();
        let err = interviews
            .replace_turns(
                unknown,
                at(0),
                0,
                &[model_turn(0)],
                InterviewStatus::Open,
                at(1),
            )
            .await
            .unwrap_err();
        assert_not_found(&err, "interview");
        let err = interviews
            .add_spec(&spec_version(unknown, 1, 1))
            .await
            .unwrap_err();
        assert_not_found(&err, "interview");
        assert_not_found(
            &interviews.spec(unknown, None).await.unwrap_err(),
            "interview spec",
        );
    }
);

storage_test!(
    specs_are_versioned_and_the_latest_completes_the_interview,
    |url: String| async move {
        let interviews = repo(&url).await;
        let created = Interview {
            turns: vec![template_turn(0, Some(100))],
            updated_at: at(100),
            ..interview(0)
        };
        interviews.create(&created).await.unwrap();
        assert_not_found(
            &interviews.spec(created.id, None).await.unwrap_err(),
            "interview spec",
        );

        let v1 = spec_version(created.id, 1, 1_000);
        interviews.add_spec(&v1).await.unwrap();
        let after_v1 = interviews.get(created.id).await.unwrap();
        assert_eq!(
            (after_v1.status, after_v1.spec_version, after_v1.updated_at),
            (InterviewStatus::Complete, 1, at(1_000))
        );
        assert_eq!(after_v1.turns, created.turns);

        // A revised answer reopens it; the next spec completes it again.
        interviews
            .replace_turns(
                created.id,
                after_v1.updated_at,
                0,
                &[template_turn(0, Some(1_500))],
                InterviewStatus::Open,
                at(1_500),
            )
            .await
            .unwrap();
        let v2 = spec_version(created.id, 2, 2_000);
        interviews.add_spec(&v2).await.unwrap();
        let after_v2 = interviews.get(created.id).await.unwrap();
        assert_eq!(
            (after_v2.status, after_v2.spec_version, after_v2.updated_at),
            (InterviewStatus::Complete, 2, at(2_000))
        );

        assert_eq!(interviews.spec(created.id, None).await.unwrap(), v2);
        assert_eq!(interviews.spec(created.id, Some(1)).await.unwrap(), v1);
        assert_eq!(interviews.spec(created.id, Some(2)).await.unwrap(), v2);
        match interviews.spec(created.id, Some(3)).await.unwrap_err() {
            Error::NotFound { entity, id } => {
                assert_eq!(entity, "interview spec");
                assert!(id.contains(&created.id.to_string()), "{id}");
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
);

storage_test!(
    a_duplicate_spec_version_is_a_conflict_and_changes_nothing,
    |url: String| async move {
        let interviews = repo(&url).await;
        let created = interview(0);
        interviews.create(&created).await.unwrap();
        let v1 = spec_version(created.id, 1, 1_000);
        interviews.add_spec(&v1).await.unwrap();
        interviews
            .replace_turns(
                created.id,
                at(1_000),
                0,
                &[model_turn(0)],
                InterviewStatus::Open,
                at(1_500),
            )
            .await
            .unwrap();
        let before = interviews.get(created.id).await.unwrap();

        let again = Spec {
            title: "Another title".to_owned(),
            ..v1.spec.clone()
        };
        let duplicate = SpecVersion {
            markdown: again.to_markdown(),
            spec: again,
            created_at: at(2_000),
            ..v1.clone()
        };
        let err = interviews.add_spec(&duplicate).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert_eq!(
            interviews.get(created.id).await.unwrap(),
            before,
            "the interview's update was rolled back with the version"
        );
        assert_eq!(interviews.spec(created.id, None).await.unwrap(), v1);
    }
);

storage_test!(
    the_answer_that_ends_an_interview_and_its_spec_are_written_together,
    |url: String| async move {
        let interviews = repo(&url).await;
        let created = interview(0);
        interviews.create(&created).await.unwrap();
        let v1 = spec_version(created.id, 1, 1_000);
        interviews
            .replace_turns_with_spec(created.id, at(0), 0, &[model_turn(0)], &v1)
            .await
            .unwrap();
        let done = interviews.get(created.id).await.unwrap();
        assert_eq!(
            (
                done.status,
                done.spec_version,
                done.updated_at,
                done.turns.len()
            ),
            (InterviewStatus::Complete, 1, at(1_000), 1)
        );
        assert_eq!(interviews.spec(created.id, None).await.unwrap(), v1);

        // A second write of version 1: refused, and its turns are not written either.
        let err = interviews
            .replace_turns_with_spec(
                created.id,
                at(1_000),
                0,
                &[],
                &spec_version(created.id, 1, 2_000),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert_eq!(interviews.get(created.id).await.unwrap(), done);
        // A stale `seen`: refused before anything is written.
        let err = interviews
            .replace_turns_with_spec(
                created.id,
                at(0),
                0,
                &[],
                &spec_version(created.id, 2, 3_000),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert_eq!(interviews.get(created.id).await.unwrap(), done);
        assert!(matches!(
            interviews.spec(created.id, Some(2)).await,
            Err(Error::NotFound { .. })
        ));
    }
);

/// How many rows of `table` belong to the interview `id`, counted straight through SQL.
async fn rows_of(url: &str, table: &str, id: Uuid) -> i64 {
    let raw = sea_orm::Database::connect(url).await.unwrap();
    let backend = raw.get_database_backend();
    let id = match backend {
        DatabaseBackend::Postgres => format!("'{id}'::uuid"),
        _ => format!("X'{}'", id.simple()),
    };
    let row = raw
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table} WHERE interview_id = {id}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

storage_test!(
    deleting_an_interview_deletes_its_turns_and_specs,
    |url: String| async move {
        let interviews = repo(&url).await;
        let doomed = Interview {
            turns: vec![template_turn(0, Some(1)), model_turn(1)],
            ..interview(0)
        };
        let kept = Interview {
            turns: vec![model_turn(0)],
            ..interview(1)
        };
        for created in [&doomed, &kept] {
            interviews.create(created).await.unwrap();
            interviews
                .add_spec(&spec_version(created.id, 1, 10))
                .await
                .unwrap();
        }
        assert_eq!(rows_of(&url, "solo_turns", doomed.id).await, 2);
        assert_eq!(rows_of(&url, "solo_specs", doomed.id).await, 1);

        let raw = sea_orm::Database::connect(url.as_str()).await.unwrap();
        let id = match raw.get_database_backend() {
            DatabaseBackend::Postgres => format!("'{}'::uuid", doomed.id),
            _ => format!("X'{}'", doomed.id.simple()),
        };
        raw.execute_unprepared(&format!("DELETE FROM solo_interviews WHERE id = {id}"))
            .await
            .unwrap();

        assert_eq!(rows_of(&url, "solo_turns", doomed.id).await, 0);
        assert_eq!(rows_of(&url, "solo_specs", doomed.id).await, 0);
        assert_not_found(&interviews.get(doomed.id).await.unwrap_err(), "interview");
        assert_eq!(rows_of(&url, "solo_turns", kept.id).await, 1);
        assert_eq!(rows_of(&url, "solo_specs", kept.id).await, 1);
    }
);

storage_test!(
    an_interview_outlives_its_owner_and_keeps_naming_them,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let users = store.user_repository();
        let interviews = store.interview_repository();
        let now = at(0);
        let alice = User {
            id: Uuid::now_v7(),
            username: "alice".to_owned(),
            email: "alice@example.com".to_owned(),
            full_name: None,
            roles: vec!["user".to_owned()],
            is_active: true,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        users.insert(&alice, "$argon2id$hash").await.unwrap();
        let hers = owned_by(alice.id, 10);
        interviews.create(&hers).await.unwrap();

        users.delete(alice.id).await.unwrap();
        assert_eq!(interviews.get(hers.id).await.unwrap(), hers);
        let page = interviews
            .list(Some(alice.id), PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.items, [hers]);
    }
);

storage_test!(
    reverting_the_migration_drops_the_interviews,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let status = store.migration_status().await.unwrap();
        let position = status
            .iter()
            .position(|m| m.name == "m20261209_000023_create_solo_interviews")
            .expect("the migration is listed");
        let steps = u32::try_from(status.len() - position).unwrap();
        store.migrate_down(steps).await.unwrap();
        let err = store
            .interview_repository()
            .get(Uuid::now_v7())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Storage(_)), "no table: {err:?}");

        store.migrate_up().await.unwrap();
        let interviews = store.interview_repository();
        let created = owned_by(Uuid::now_v7(), 0);
        interviews.create(&created).await.unwrap();
        assert_eq!(interviews.get(created.id).await.unwrap(), created);
    }
);
