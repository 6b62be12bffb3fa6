//! The content domain (channels, personas, evidence, the contradiction tracker) on real
//! SQLite files and a real PostgreSQL server.

use chrono::NaiveDate;
use trae_core::content::contradiction::ContradictionType;
use trae_core::content::{
    ChannelFilter, ChannelPatch, ContradictionFilter, ContradictionPatch, EvidenceFilter,
    EvidencePatch, EvidenceType, NewChannel, NewContradiction, NewEvidence, NewPersona,
    PersonaFilter, PersonaPatch, Platform, SubjectType, Verification, VerificationStatus,
    VocabularyLevel,
};
use trae_core::identity::audit::{AuditFilter, Outcome, RequestMeta};
use trae_core::identity::permission::{Authorizer, Permission};
use trae_core::{Error, PageRequest, Principal};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

const SYSTEM: Principal = Principal::System;

async fn store(url: &str) -> Store {
    Store::connect(url).await.expect("open the test store")
}

fn channel(name: &str, platform: Platform) -> NewChannel {
    NewChannel {
        name: name.to_owned(),
        platform: Some(platform),
        ..NewChannel::default()
    }
}

fn evidence(topic: &str, content: &str) -> NewEvidence {
    NewEvidence {
        topic: topic.to_owned(),
        content: content.to_owned(),
        ..NewEvidence::default()
    }
}

fn record(subject: &str, s1: &str, s2: &str) -> NewContradiction {
    NewContradiction {
        subject_name: subject.to_owned(),
        subject_type: Some(SubjectType::Politician),
        topic: "taxes".to_owned(),
        statement_1: s1.to_owned(),
        statement_2: s2.to_owned(),
        ..NewContradiction::default()
    }
}

/// A role authority that lets anyone read and write content but never review it: these tests
/// are about what is stored (who created a record), the permission rules are tested with the
/// server's RBAC.
struct Writers;

#[async_trait::async_trait]
impl Authorizer for Writers {
    async fn authorize(&self, principal: &Principal, needed: &Permission) -> trae_core::Result<()> {
        match (principal, needed.as_str()) {
            (Principal::System, _) | (_, "content:read" | "content:write") => Ok(()),
            _ => Err(Error::Forbidden(format!(
                "this needs the permission {needed}"
            ))),
        }
    }
}

fn writers() -> std::sync::Arc<dyn Authorizer> {
    std::sync::Arc::new(Writers)
}

fn user() -> Principal {
    Principal::User {
        user_id: Uuid::now_v7(),
        username: Some("writer".into()),
        session_id: None,
        roles: vec!["user".into()],
    }
}

fn page() -> PageRequest {
    PageRequest::default()
}

storage_test!(
    channels_round_trip_filter_and_refuse_duplicates,
    |url: String| async move {
        let channels = store(&url).await.channels();
        let created = channels
            .create(
                &SYSTEM,
                NewChannel {
                    url: Some("https://youtube.com/@trae".into()),
                    metrics: Some(serde_json::json!({ "subscribers": 1200 })),
                    description: Some("  Science, explained.  ".into()),
                    ..channel("Trae Science", Platform::Youtube)
                },
            )
            .await
            .unwrap();
        assert_eq!(created.description.as_deref(), Some("Science, explained."));
        assert_eq!(
            channels
                .get(&trae_core::Principal::System, created.id)
                .await
                .unwrap(),
            created
        );
        channels
            .create(&SYSTEM, channel("Trae Blog", Platform::Blog))
            .await
            .unwrap();

        let err = channels
            .create(&SYSTEM, channel("Trae Blog", Platform::Blog))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("Trae Blog")),
            "{err}"
        );
        let err = channels
            .create(
                &SYSTEM,
                NewChannel {
                    url: Some("javascript:alert(1)".into()),
                    ..channel("Bad", Platform::Other)
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "url"));

        let youtube = channels
            .list(
                &trae_core::Principal::System,
                ChannelFilter {
                    platform: Some(Platform::Youtube),
                    ..ChannelFilter::default()
                },
                page(),
            )
            .await
            .unwrap();
        assert_eq!(youtube.total, 1);
        assert_eq!(youtube.items[0].id, created.id);
        let all = channels
            .list(
                &trae_core::Principal::System,
                ChannelFilter::default(),
                page(),
            )
            .await
            .unwrap();
        let names: Vec<&str> = all.items.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Trae Blog", "Trae Science"], "ordered by name");

        let patched = channels
            .update(
                &SYSTEM,
                created.id,
                ChannelPatch {
                    is_active: Some(false),
                    clear: vec!["url".into()],
                    ..ChannelPatch::default()
                },
            )
            .await
            .unwrap();
        assert!(!patched.is_active);
        assert_eq!(patched.url, None);
        assert_eq!(
            patched.description, created.description,
            "untouched fields stay"
        );
        let inactive = channels
            .list(
                &trae_core::Principal::System,
                ChannelFilter {
                    is_active: Some(false),
                    ..ChannelFilter::default()
                },
                page(),
            )
            .await
            .unwrap();
        assert_eq!(inactive.total, 1);
        let err = channels
            .update(
                &SYSTEM,
                created.id,
                ChannelPatch {
                    clear: vec!["name".into()],
                    ..ChannelPatch::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "clear"));
    }
);

storage_test!(
    a_channel_in_use_is_deleted_only_when_detaching,
    |url: String| async move {
        let store = store(&url).await;
        let (channels, personas) = (store.channels(), store.personas());
        let ch = channels
            .create(&SYSTEM, channel("Main", Platform::Podcast))
            .await
            .unwrap();
        let host = personas
            .create(
                &SYSTEM,
                NewPersona {
                    name: "Host".into(),
                    channel_id: Some(ch.id),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap();

        let err = channels.delete(&SYSTEM, ch.id, false).await.unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("detach")),
            "{err}"
        );
        assert!(
            channels
                .get(&trae_core::Principal::System, ch.id)
                .await
                .is_ok(),
            "a refused delete leaves the channel"
        );
        assert_eq!(
            personas
                .get(&trae_core::Principal::System, host.id)
                .await
                .unwrap()
                .traits
                .channel_id,
            Some(ch.id)
        );

        assert_eq!(channels.delete(&SYSTEM, ch.id, true).await.unwrap(), 1);
        assert!(matches!(
            channels.get(&trae_core::Principal::System, ch.id).await,
            Err(Error::NotFound { .. })
        ));
        let host = personas
            .get(&trae_core::Principal::System, host.id)
            .await
            .unwrap();
        assert_eq!(host.traits.channel_id, None);
        assert_eq!(host.version, 2, "detaching is a change, so a new version");
        let versions = personas
            .versions(&trae_core::Principal::System, host.id)
            .await
            .unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0].traits.channel_id, Some(ch.id));
        assert_eq!(versions[1].traits.channel_id, None);
        assert!(matches!(
            channels.delete(&SYSTEM, ch.id, true).await,
            Err(Error::NotFound { .. })
        ));

        let err = personas
            .create(
                &SYSTEM,
                NewPersona {
                    name: "Ghost".into(),
                    channel_id: Some(ch.id),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "channel_id"));
    }
);

storage_test!(
    persona_updates_keep_every_version,
    |url: String| async move {
        let personas = store(&url).await.personas().with_authorizer(writers());
        let author = user();
        let ada = personas
            .create(
                &author,
                NewPersona {
                    name: "Ada".into(),
                    tone: Some("warm".into()),
                    expertise_areas: Some(vec!["physics".into()]),
                    vocabulary_level: Some(VocabularyLevel::Intermediate),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(ada.version, 1);

        let same = personas
            .update(
                &SYSTEM,
                ada.id,
                PersonaPatch {
                    tone: Some("warm".into()),
                    ..PersonaPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            same.version, 1,
            "a patch that changes nothing makes no version"
        );

        let v2 = personas
            .update(
                &SYSTEM,
                ada.id,
                PersonaPatch {
                    tone: Some("dry".into()),
                    clear: vec!["expertise_areas".into()],
                    ..PersonaPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(v2.traits.tone.as_deref(), Some("dry"));
        assert_eq!(v2.traits.expertise_areas, None);

        let versions = personas
            .versions(&trae_core::Principal::System, ada.id)
            .await
            .unwrap();
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            [1, 2]
        );
        let v1 = personas
            .version(&trae_core::Principal::System, ada.id, 1)
            .await
            .unwrap();
        assert_eq!(v1.traits.tone.as_deref(), Some("warm"));
        assert_eq!(v1.traits.expertise_areas, Some(vec!["physics".to_owned()]));
        assert_eq!(v1.changed_by, author.created_by());
        assert_eq!(
            personas
                .version(&trae_core::Principal::System, ada.id, 2)
                .await
                .unwrap()
                .changed_by,
            "system"
        );
        assert!(matches!(
            personas
                .version(&trae_core::Principal::System, ada.id, 3)
                .await,
            Err(Error::NotFound { .. })
        ));

        let err = personas
            .create(
                &SYSTEM,
                NewPersona {
                    name: "Ada".into(),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("Ada")),
            "{err}"
        );
    }
);

storage_test!(
    variants_inherit_what_they_do_not_override,
    |url: String| async move {
        let personas = store(&url).await.personas();
        let parent = personas
            .create(
                &SYSTEM,
                NewPersona {
                    name: "Base".into(),
                    tone: Some("warm".into()),
                    writing_style: Some("short sentences".into()),
                    personality_traits: Some(vec!["curious".into()]),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap();
        let child = personas
            .create(
                &SYSTEM,
                NewPersona {
                    name: "Base for kids".into(),
                    parent_id: Some(parent.id),
                    vocabulary_level: Some(VocabularyLevel::Basic),
                    tone: Some("playful".into()),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            child.traits.tone.as_deref(),
            Some("playful"),
            "its own tone"
        );
        assert_eq!(
            child.traits.writing_style.as_deref(),
            Some("short sentences")
        );
        assert_eq!(child.inherited, ["writing_style", "personality_traits"]);

        // The parent's current version is what a variant inherits.
        personas
            .update(
                &SYSTEM,
                parent.id,
                PersonaPatch {
                    writing_style: Some("long, winding sentences".into()),
                    tone: Some("stern".into()),
                    ..PersonaPatch::default()
                },
            )
            .await
            .unwrap();
        let child = personas
            .get(&trae_core::Principal::System, child.id)
            .await
            .unwrap();
        assert_eq!(
            child.traits.writing_style.as_deref(),
            Some("long, winding sentences")
        );
        assert_eq!(child.traits.tone.as_deref(), Some("playful"));
        assert_eq!(child.version, 1, "a parent's change is not the variant's");

        // Clearing an override makes the variant inherit again.
        let child = personas
            .update(
                &SYSTEM,
                child.id,
                PersonaPatch {
                    clear: vec!["tone".into()],
                    ..PersonaPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(child.traits.tone.as_deref(), Some("stern"));
        assert!(child.inherited.contains(&"tone".to_owned()));

        let listed = personas
            .list(
                &trae_core::Principal::System,
                PersonaFilter {
                    parent_id: Some(parent.id),
                    ..PersonaFilter::default()
                },
                page(),
            )
            .await
            .unwrap();
        assert_eq!(listed.total, 1);
        assert_eq!(listed.items[0], child, "lists resolve inheritance too");

        // No cycles, no dangling parents, no orphaned variants.
        let err = personas
            .update(
                &SYSTEM,
                parent.id,
                PersonaPatch {
                    parent_id: Some(child.id),
                    ..PersonaPatch::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "parent_id"),
            "{err}"
        );
        let err = personas
            .create(
                &SYSTEM,
                NewPersona {
                    name: "Orphan".into(),
                    parent_id: Some(Uuid::now_v7()),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "parent_id"));
        let err = personas.delete(&SYSTEM, parent.id).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        personas.delete(&SYSTEM, child.id).await.unwrap();
        personas.delete(&SYSTEM, parent.id).await.unwrap();
        assert!(matches!(
            personas
                .versions(&trae_core::Principal::System, parent.id)
                .await,
            Err(Error::NotFound { .. })
        ));
    }
);

storage_test!(
    a_persona_renders_its_prompt_and_counts_the_use,
    |url: String| async move {
        let store = store(&url).await;
        let ch = store
            .channels()
            .create(&SYSTEM, channel("Physics Weekly", Platform::Newsletter))
            .await
            .unwrap();
        let personas = store.personas();
        let p = personas
            .create(
                &SYSTEM,
                NewPersona {
                    name: "Ada".into(),
                    description: Some("a physicist who explains".into()),
                    tone: Some("warm".into()),
                    channel_id: Some(ch.id),
                    ..NewPersona::default()
                },
            )
            .await
            .unwrap();
        let prompt = personas
            .prompt(&trae_core::Principal::System, p.id)
            .await
            .unwrap();
        assert_eq!(prompt.version, 1);
        assert!(
            prompt
                .prompt
                .starts_with("You are Ada: a physicist who explains."),
            "{}",
            prompt.prompt
        );
        assert!(prompt.prompt.contains("Tone: warm"), "{}", prompt.prompt);
        assert!(
            prompt
                .prompt
                .contains("Channel: Physics Weekly on newsletter"),
            "{}",
            prompt.prompt
        );
        personas
            .prompt(&trae_core::Principal::System, p.id)
            .await
            .unwrap();
        let used = personas
            .get(&trae_core::Principal::System, p.id)
            .await
            .unwrap();
        assert_eq!(used.usage_count, 2);
        assert!(used.last_used_at.is_some());
        assert_eq!(used.version, 1, "use is not a change");
        assert!(matches!(
            personas
                .prompt(&trae_core::Principal::System, Uuid::now_v7())
                .await,
            Err(Error::NotFound { .. })
        ));
    }
);

storage_test!(
    evidence_search_ranks_topic_matches_first,
    |url: String| async move {
        let library = store(&url).await.evidence();
        let body = library
            .create(
                &SYSTEM,
                evidence(
                    "Budget speech",
                    "The minister said taxes would not rise, then raised taxes twice.",
                ),
            )
            .await
            .unwrap();
        let topic = library
            .create(
                &SYSTEM,
                NewEvidence {
                    evidence_type: Some(EvidenceType::Statistic),
                    tags: vec!["fiscal".into()],
                    credibility: Some(9),
                    ..evidence("Taxes in 2024", "Revenue grew by 4 percent.")
                },
            )
            .await
            .unwrap();
        library
            .create(&SYSTEM, evidence("Weather", "Rain all week."))
            .await
            .unwrap();

        let search = |q: &str| {
            let library = library.clone();
            let q = q.to_owned();
            async move {
                library
                    .list(
                        &trae_core::Principal::System,
                        EvidenceFilter {
                            q: Some(q),
                            ..EvidenceFilter::default()
                        },
                        page(),
                    )
                    .await
            }
        };
        let hits = search("taxes").await.unwrap();
        assert_eq!(hits.total, 2);
        assert_eq!(
            hits.items.iter().map(|e| e.id).collect::<Vec<_>>(),
            [topic.id, body.id],
            "a topic match outranks a content match"
        );
        // Stemming on both engines: "tax" finds "taxes".
        assert_eq!(search("tax").await.unwrap().total, 2);
        assert_eq!(
            search("taxes rain").await.unwrap().total,
            0,
            "every word must match"
        );
        // Query syntax never reaches the engine.
        // Query syntax never reaches the engine: quotes, operators and stars are plain breaks.
        assert_eq!(search("\"taxes\" -rain*").await.unwrap().total, 0);
        assert_eq!(search("(taxes*)^").await.unwrap().total, 2);
        let err = search(" *** ").await.unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "q"));

        let filtered = library
            .list(
                &trae_core::Principal::System,
                EvidenceFilter {
                    tag: Some("fiscal".into()),
                    evidence_type: Some(EvidenceType::Statistic),
                    min_credibility: Some(8),
                    ..EvidenceFilter::default()
                },
                page(),
            )
            .await
            .unwrap();
        assert_eq!(
            filtered.items.iter().map(|e| e.id).collect::<Vec<_>>(),
            [topic.id]
        );

        // The index follows updates and deletes.
        library
            .update(
                &SYSTEM,
                body.id,
                EvidencePatch {
                    content: Some("Nothing about revenue here.".into()),
                    ..EvidencePatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(search("taxes").await.unwrap().items.len(), 1);
        assert_eq!(search("revenue").await.unwrap().total, 2);
        library.delete(&SYSTEM, topic.id).await.unwrap();
        assert_eq!(search("revenue").await.unwrap().total, 1);
        let err = library
            .create(
                &SYSTEM,
                NewEvidence {
                    credibility: Some(11),
                    ..evidence("x", "y")
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "credibility"));
    }
);

storage_test!(
    contradictions_link_evidence_and_derive_the_gap,
    |url: String| async move {
        let store = store(&url).await;
        let (library, tracker) = (
            store.evidence(),
            store.contradictions().with_authorizer(writers()),
        );
        let clip = library
            .create(&SYSTEM, evidence("Rally", "Video of the rally speech."))
            .await
            .unwrap();
        let vote = library
            .create(&SYSTEM, evidence("Vote", "Voting record."))
            .await
            .unwrap();
        let date = |s: &str| Some(s.parse::<NaiveDate>().unwrap());
        let created = tracker
            .create(
                &user(),
                NewContradiction {
                    date_1: date("2020-01-15"),
                    date_2: date("2021-01-15"),
                    evidence_1: vec![clip.id],
                    evidence_2: vec![vote.id, clip.id],
                    tags: vec!["budget".into()],
                    ..record(
                        "Sen. Smith",
                        "I will never raise taxes.",
                        "I voted to raise taxes.",
                    )
                },
            )
            .await
            .unwrap();
        assert_eq!(created.verification_status, VerificationStatus::Pending);
        assert_eq!(created.time_gap_days, Some(366));
        assert_eq!(
            tracker
                .get(&trae_core::Principal::System, created.id)
                .await
                .unwrap(),
            created
        );

        let missing = Uuid::now_v7();
        let err = tracker
            .create(
                &SYSTEM,
                NewContradiction {
                    evidence_1: vec![missing],
                    ..record("Sen. Smith", "a", "b")
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "evidence_1"),
            "{err}"
        );
        let err = tracker
            .create(
                &SYSTEM,
                NewContradiction {
                    severity: Some(0),
                    ..record("Sen. Smith", "a", "b")
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "severity"));
        assert_eq!(
            tracker
                .list(
                    &trae_core::Principal::System,
                    ContradictionFilter::default(),
                    page()
                )
                .await
                .unwrap()
                .total,
            1,
            "refused records leave nothing behind"
        );

        library.delete(&SYSTEM, clip.id).await.unwrap();
        let after = tracker
            .get(&trae_core::Principal::System, created.id)
            .await
            .unwrap();
        assert!(after.evidence_1.is_empty());
        assert_eq!(
            after.evidence_2,
            [vote.id],
            "deleting evidence drops only its links"
        );

        let by_subject = tracker
            .list(
                &trae_core::Principal::System,
                ContradictionFilter {
                    subject_name: Some("sen. smith".into()),
                    tag: Some("budget".into()),
                    ..ContradictionFilter::default()
                },
                page(),
            )
            .await
            .unwrap();
        assert_eq!(by_subject.total, 1);
    }
);

storage_test!(
    verification_is_a_reviewed_and_audited_workflow,
    |url: String| async move {
        let store = store(&url).await;
        let tracker = store.contradictions();
        let meta = RequestMeta::default();
        let c = tracker
            .create(
                &SYSTEM,
                record("Mayor Lee", "Parks stay open.", "Parks will close."),
            )
            .await
            .unwrap();

        // Without a role authority only the system reviews; a user is refused and audited.
        let err = tracker
            .verify(
                &user(),
                c.id,
                Verification {
                    status: VerificationStatus::Verified,
                    note: "checked the tapes".into(),
                },
                &meta,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        assert_eq!(
            tracker
                .get(&trae_core::Principal::System, c.id)
                .await
                .unwrap()
                .verification_status,
            VerificationStatus::Pending
        );

        let err = tracker
            .verify(
                &SYSTEM,
                c.id,
                Verification {
                    status: VerificationStatus::Verified,
                    note: "  ".into(),
                },
                &meta,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "note"));

        let verified = tracker
            .verify(
                &SYSTEM,
                c.id,
                Verification {
                    status: VerificationStatus::Verified,
                    note: "checked the tapes".into(),
                },
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(verified.verification_status, VerificationStatus::Verified);
        assert_eq!(verified.reviewed_by.as_deref(), Some("system"));
        assert_eq!(verified.review_note.as_deref(), Some("checked the tapes"));
        assert!(verified.reviewed_at.is_some());
        let err = tracker
            .verify(
                &SYSTEM,
                c.id,
                Verification {
                    status: VerificationStatus::Verified,
                    note: "again".into(),
                },
                &meta,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");

        // Restating a reviewed record sends it back to pending.
        let restated = tracker
            .update(
                &SYSTEM,
                c.id,
                ContradictionPatch {
                    statement_2: Some("Parks will close at night.".into()),
                    ..ContradictionPatch::default()
                },
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(restated.verification_status, VerificationStatus::Pending);
        assert_eq!(restated.reviewed_by, None);
        // Other edits keep the review.
        let verified = tracker
            .verify(
                &SYSTEM,
                c.id,
                Verification {
                    status: VerificationStatus::Disputed,
                    note: "the second quote is partial".into(),
                },
                &meta,
            )
            .await
            .unwrap();
        let tagged = tracker
            .update(
                &SYSTEM,
                c.id,
                ContradictionPatch {
                    tags: Some(vec!["parks".into()]),
                    ..ContradictionPatch::default()
                },
                &meta,
            )
            .await
            .unwrap();
        assert_eq!(tagged.verification_status, verified.verification_status);

        let audit = store
            .audit()
            .list(AuditFilter::default(), PageRequest::default())
            .await
            .unwrap();
        let trail: Vec<(String, Outcome)> = audit
            .items
            .iter()
            .rev()
            .filter(|e| e.target.as_deref() == Some(&format!("contradiction:{}", c.id)))
            .map(|e| (e.action.clone(), e.outcome))
            .collect();
        assert_eq!(
            trail,
            [
                ("contradiction.verify".to_owned(), Outcome::Denied),
                ("contradiction.verify".to_owned(), Outcome::Success),
                ("contradiction.review_reset".to_owned(), Outcome::Success),
                ("contradiction.verify".to_owned(), Outcome::Success),
            ]
        );
        let first_move = audit
            .items
            .iter()
            .rev()
            .find(|e| e.outcome == Outcome::Success)
            .unwrap();
        assert_eq!(first_move.details["from"], "pending");
        assert_eq!(first_move.details["to"], "verified");
        assert_eq!(first_move.details["note"], "checked the tapes");
    }
);

storage_test!(
    opportunities_rank_verified_unused_records,
    |url: String| async move {
        let tracker = store(&url).await.contradictions();
        let meta = RequestMeta::default();
        let mut ids = Vec::new();
        // (severity, confidence, impact): scores 48, 81, 81 (newer), 100 but unverified, 90 but used.
        for (i, (severity, confidence, impact, verify, used)) in [
            (8, 0.6, 10, true, false),
            (9, 0.9, 10, true, false),
            (9, 0.9, 10, true, false),
            (10, 1.0, 10, false, false),
            (10, 0.9, 10, true, true),
        ]
        .into_iter()
        .enumerate()
        {
            let c = tracker
                .create(
                    &SYSTEM,
                    NewContradiction {
                        severity: Some(severity),
                        confidence: Some(confidence),
                        public_impact: Some(impact),
                        ..record(&format!("Subject {i}"), "Yes.", "No.")
                    },
                )
                .await
                .unwrap();
            if verify {
                tracker
                    .verify(
                        &SYSTEM,
                        c.id,
                        Verification {
                            status: VerificationStatus::Verified,
                            note: "ok".into(),
                        },
                        &meta,
                    )
                    .await
                    .unwrap();
            }
            if used {
                tracker
                    .update(
                        &SYSTEM,
                        c.id,
                        ContradictionPatch {
                            content_used: Some(true),
                            ..ContradictionPatch::default()
                        },
                        &meta,
                    )
                    .await
                    .unwrap();
            }
            ids.push(c.id);
        }
        let ranked = tracker
            .opportunities(&trae_core::Principal::System, page())
            .await
            .unwrap();
        assert_eq!(ranked.total, 3);
        assert_eq!(
            ranked
                .items
                .iter()
                .map(|o| o.contradiction.id)
                .collect::<Vec<_>>(),
            [ids[2], ids[1], ids[0]],
            "by score, then newest first"
        );
        assert!((ranked.items[0].score - 81.0).abs() < 1e-9);
    }
);

storage_test!(
    analysis_fills_confidence_and_suggests_a_type,
    |url: String| async move {
        let tracker = store(&url).await.contradictions();
        let c = tracker
            .create(
                &SYSTEM,
                NewContradiction {
                    contradiction_type: Some(ContradictionType::Contextual),
                    confidence: Some(0.1),
                    ..record(
                        "Sen. Smith",
                        "I never support tax hikes.",
                        "We must always support tax hikes.",
                    )
                },
            )
            .await
            .unwrap();
        let (stored, analysis) = tracker.analyze(&SYSTEM, c.id).await.unwrap();
        assert!(!analysis.contradictions.is_empty());
        let found = stored.analysis.clone().expect("the analysis is stored");
        assert_eq!(found.suggested_type, Some(ContradictionType::Direct));
        assert!(stored.confidence > 0.5, "{}", stored.confidence);
        assert_eq!(stored.confidence, found.confidence);
        assert_eq!(
            stored.contradiction_type,
            ContradictionType::Contextual,
            "the record's own type is left to people"
        );
        assert_eq!(
            tracker
                .get(&trae_core::Principal::System, c.id)
                .await
                .unwrap(),
            stored
        );

        let calm = tracker
            .create(
                &SYSTEM,
                record("Sen. Smith", "I like parks.", "The sky is blue."),
            )
            .await
            .unwrap();
        let (stored, analysis) = tracker.analyze(&SYSTEM, calm.id).await.unwrap();
        assert!(analysis.contradictions.is_empty());
        assert_eq!(stored.confidence, 0.0);
        assert_eq!(stored.analysis.unwrap().suggested_type, None);
        assert!(matches!(
            tracker.analyze(&SYSTEM, Uuid::now_v7()).await,
            Err(Error::NotFound { .. })
        ));
    }
);
