//! Test generation end to end, through the composition root, against a scripted
//! OpenAI-compatible server on 127.0.0.1 and real pytest and cargo runs: a test is kept only
//! when it passes on the target and fails under at least one of its mutants; a round that
//! keeps nothing is followed by one told why; bad input is refused before the model is asked;
//! the project is touched only by an explicit apply, which refuses a changed project; and
//! only `agents:run` may generate.
//!
//! The fixture targets (tests/gen_projects) and the answers below are small enough to count
//! their mutants by hand; each expected figure says how.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_agents::{AgentError, AgentSettings, NewGeneration, TestGenerator, Trae};
use trae_core::{
    ApiEndpointSpec, Config, Error, Generation, MutantOutcome, MutationKind, Principal,
    RequestMeta, TestVerdict,
};

mod common;
use common::{copy_dir, python};

const PY_TESTS: &str = "Here are the tests.\n\n```python\nimport pytest\n\nfrom grades.scale import letter\n\n\ndef test_top_grade():\n    assert letter(95) == \"A\"\n\n\ndef test_boundaries():\n    assert letter(90) == \"A\"\n    assert letter(89) == \"B\"\n    assert letter(70) == \"B\"\n    assert letter(50) == \"C\"\n    assert letter(49) == \"F\"\n\n\ndef test_wrong_expectation():\n    assert letter(90) == \"B\"\n\n\ndef test_letter_is_callable():\n    assert callable(letter)\n\n\ndef test_rejects_out_of_range():\n    with pytest.raises(ValueError):\n        letter(101)\n```\n";

const PY_USELESS: &str = "```python\nfrom grades.scale import letter\n\n\ndef test_wrong_expectation():\n    assert letter(90) == \"B\"\n\n\ndef test_letter_is_callable():\n    assert callable(letter)\n```\n";

const RS_TESTS: &str = "```rust\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn empty_parcels_are_free() {\n        assert_eq!(fee(0), 0);\n    }\n\n    #[test]\n    fn heavy_parcels_cost_more() {\n        assert_eq!(fee(1001), 500);\n        assert_eq!(fee(1000), 300);\n    }\n\n    #[test]\n    fn wrong_about_light_parcels() {\n        assert_eq!(fee(1), 200);\n    }\n\n    #[test]\n    fn fee_is_bounded() {\n        assert!(fee(5) < u32::MAX);\n    }\n}\n```\n";

fn config(dir: &Path, workspace: &Path) -> Config {
    let env: HashMap<&str, String> = HashMap::from([
        (
            "TRAE_DATABASE_URL",
            format!("sqlite://{}/trae.db?mode=rwc", dir.display()),
        ),
        ("TRAE_DATA_DIR", dir.display().to_string()),
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true".to_owned()),
        ("TRAE_AGENT_WORKSPACES", workspace.display().to_string()),
        (
            "TRAE_MASTER_KEY",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".to_owned(),
        ),
    ]);
    Config::from_sources(|k| env.get(k).cloned()).expect("config")
}

struct Harness {
    trae: Trae,
    llm: ScriptedLlm,
    generator: TestGenerator,
    workspace: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let trae = Trae::open(config(dir.path(), workspace.path()))
        .await
        .unwrap();
    let llm = ScriptedLlm::start().await.unwrap();
    let mut spec = ApiEndpointSpec::new("local", "llm.chat", llm.base_url());
    spec.metadata = json!({"default_model": "scripted", "input_price_per_million": 1.0, "output_price_per_million": 2.0});
    trae.apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await
        .unwrap();
    // pytest's plugin autoload costs seconds per run in the CI virtualenv; the projects use none.
    let generator = trae.test_generator().clone().with_settings(AgentSettings {
        env: [("PYTEST_DISABLE_PLUGIN_AUTOLOAD".to_owned(), "1".to_owned())].into(),
        ..AgentSettings::default()
    });
    Harness {
        trae,
        llm,
        generator,
        workspace,
        _dir: dir,
    }
}

impl Harness {
    /// A copy of fixture project `name` in the workspace.
    fn project(&self, name: &str) -> PathBuf {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/gen_projects")
            .join(name);
        let to = self.workspace.path().join(name);
        copy_dir(&from, &to);
        to
    }

    fn new_generation(
        &self,
        project: &Path,
        target: &str,
        test: Option<Vec<String>>,
    ) -> NewGeneration {
        NewGeneration {
            path: project.display().to_string(),
            target: target.to_owned(),
            test,
            ..NewGeneration::default()
        }
    }

    async fn generate(
        &self,
        principal: &Principal,
        new: NewGeneration,
    ) -> Result<Generation, AgentError> {
        let model = self.trae.models().acting_for(principal.clone());
        self.generator
            .generate(principal, new, model, &CancellationToken::new())
            .await
    }
}

fn pytest(python: &str) -> Option<Vec<String>> {
    Some(vec![
        python.to_owned(),
        "-m".into(),
        "pytest".into(),
        "-q".into(),
    ])
}

fn verdicts(generation: &Generation) -> Vec<(&str, TestVerdict)> {
    generation
        .tests
        .iter()
        .map(|t| {
            let verdict = match &t.verdict {
                // The message is pytest's or libtest's; that it is there is what counts.
                TestVerdict::FailsOnCurrentCode { message } => {
                    assert!(!message.is_empty());
                    TestVerdict::FailsOnCurrentCode {
                        message: String::new(),
                    }
                }
                other => other.clone(),
            };
            (t.name.as_str(), verdict)
        })
        .collect()
}

fn failing() -> TestVerdict {
    TestVerdict::FailsOnCurrentCode {
        message: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tests_are_kept_only_when_they_pass_and_can_fail() {
    let Some(python) = python() else { return };
    let h = harness().await;
    let project = h.project("py_grades");
    let before = std::fs::read_to_string(project.join("grades/scale.py")).unwrap();
    let mut events = h.trae.store().events().subscribe();
    h.llm.push(Reply::text(PY_TESTS));

    let generation = h
        .generate(
            &Principal::System,
            h.new_generation(&project, "grades/scale.py:letter", pytest(&python)),
        )
        .await
        .unwrap();

    assert_eq!(
        verdicts(&generation),
        vec![
            // 95 is no longer an A when the range check or `>= 90` is flipped or
            // `return "A"` is gone.
            ("test_top_grade", TestVerdict::Kept { kills: 4 }),
            // Every mutant but those of the range check's literals and its `raise`.
            ("test_boundaries", TestVerdict::Kept { kills: 11 }),
            ("test_wrong_expectation", failing()),
            ("test_letter_is_callable", TestVerdict::CannotFail),
            // `> 100` flipped or made `> 101`, and the `raise` removed.
            ("test_rejects_out_of_range", TestVerdict::Kept { kills: 3 }),
        ],
        "{:#?}",
        generation.mutants
    );
    // letter's body: line 5 has two comparisons and two literals, lines 7 and 9 one
    // comparison and one literal each, line 11 one comparison, and the raise and the four
    // returns can each be removed: 14 mutants. Only `score < 0` made `score < 1` survives (no test
    // tries 0).
    assert_eq!(generation.mutants.len(), 14);
    let survivors: Vec<_> = generation
        .mutants
        .iter()
        .filter(|m| m.outcome == MutantOutcome::Survived)
        .map(|m| (m.mutant.kind, m.mutant.line, m.mutant.after.as_str()))
        .collect();
    assert_eq!(
        survivors,
        vec![(
            MutationKind::ChangedConstant,
            5,
            "    if score < 1 or score > 100:"
        )]
    );
    assert_eq!(generation.viable_mutants(), 14);
    assert_eq!(generation.mutation_score(), Some(13.0 / 14.0));
    assert_eq!(generation.test_file, "tests/test_scale_generated.py");
    assert_eq!((generation.rounds, generation.tokens > 0), (1, true));

    let content = generation.content.clone().unwrap();
    for kept in [
        "test_top_grade",
        "test_boundaries",
        "test_rejects_out_of_range",
    ] {
        assert!(content.contains(&format!("def {kept}(")), "{content}");
    }
    for dropped in ["test_wrong_expectation", "test_letter_is_callable"] {
        assert!(!content.contains(dropped), "{content}");
    }
    assert!(content.starts_with("import pytest\n\nfrom grades.scale import letter\n"));

    // Nothing is written until applied; the mutants never reach the project.
    assert!(!project.join("tests/test_scale_generated.py").exists());
    assert_eq!(
        std::fs::read_to_string(project.join("grades/scale.py")).unwrap(),
        before
    );
    h.generator
        .apply(&Principal::System, &generation)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(project.join("tests/test_scale_generated.py")).unwrap(),
        content
    );
    let out = std::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "tests/test_scale_generated.py"])
        .env("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 passed"));

    // Progress on the event stream, ending with the score.
    let mut progress = 0;
    let finished = loop {
        let event = events.recv().await.unwrap();
        match event.kind.as_str() {
            "tdd.gen.progress" => progress += 1,
            "tdd.gen.finished" => break event.payload.clone(),
            _ => {}
        }
    };
    assert!(progress >= 14, "{progress} progress events");
    assert_eq!(finished["kept"], 3);
    assert_eq!(finished["detected"], 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_tests_go_into_a_module_of_the_target() {
    let h = harness().await;
    let project = h.project("rs_parcels");
    h.llm.push(Reply::text(RS_TESTS));

    let generation = h
        .generate(
            &Principal::System,
            h.new_generation(&project, "src/lib.rs:fee", None),
        )
        .await
        .unwrap();
    assert_eq!(
        verdicts(&generation),
        vec![
            ("empty_parcels_are_free", TestVerdict::Kept { kills: 4 }),
            ("heavy_parcels_cost_more", TestVerdict::Kept { kills: 6 }),
            ("wrong_about_light_parcels", failing()),
            ("fee_is_bounded", TestVerdict::CannotFail),
        ]
    );
    // `== 0` flipped or made `== 1`, `return 0` made 1 or removed, 300 made 301, `> 1000`
    // flipped or made 1001, `fee += 200` made 201 or removed: 9, every one caught.
    assert_eq!(generation.mutants.len(), 9);
    assert_eq!(generation.mutation_score(), Some(1.0));
    assert_eq!(generation.test_file, "src/lib.rs");
    let content = generation.content.clone().unwrap();
    assert!(content.starts_with("//! Parcel fees.\n"), "{content}");
    assert!(content.contains("\n#[cfg(test)]\nmod trae_generated {\n    use super::*;\n\n    #[test]\n    fn empty_parcels_are_free() {\n"), "{content}");
    assert!(!content.contains("wrong_about") && !content.contains("fee_is_bounded"));

    h.generator
        .apply(&Principal::System, &generation)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(project.join("src/lib.rs")).unwrap(),
        content
    );
    // A second apply of the same generation finds the project changed under it.
    let again = h.generator.apply(&Principal::System, &generation).await;
    assert!(
        matches!(again, Err(AgentError::Core(Error::Conflict(_)))),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_that_keeps_nothing_is_followed_by_one_told_why() {
    let Some(python) = python() else { return };
    let h = harness().await;
    let project = h.project("py_grades");
    h.llm.push(Reply::text("I would rather not."));
    h.llm.push(Reply::text(PY_USELESS));
    h.llm.push(Reply::text(PY_TESTS));
    let mut new = h.new_generation(&project, "grades/scale.py:letter", pytest(&python));
    new.rounds = Some(3);

    let generation = h.generate(&Principal::System, new).await.unwrap();
    assert_eq!(generation.rounds, 3);
    assert_eq!(generation.kept().count(), 3);
    let requests = h.llm.requests();
    let asked = |i: usize| {
        requests[i]["messages"][1]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        asked(1).contains("your answer held no code block"),
        "{}",
        asked(1)
    );
    let third = asked(2);
    assert!(
        third.contains("test_wrong_expectation fails on the current code"),
        "{third}"
    );
    assert!(
        third.contains("test_letter_is_callable passes even when the code is changed"),
        "{third}"
    );
    assert!(
        third.contains("`if score >= 90:` became `if score < 90:`"),
        "{third}"
    );

    // Out of rounds with nothing kept: no content, and nothing to apply.
    let project = h.workspace.path().join("second");
    copy_dir(&h.project("py_grades"), &project);
    h.llm.push(Reply::text(PY_USELESS));
    let mut new = h.new_generation(&project, "grades/scale.py:letter", pytest(&python));
    new.rounds = Some(1);
    let generation = h.generate(&Principal::System, new).await.unwrap();
    assert_eq!(generation.content, None);
    assert_eq!(generation.kept().count(), 0);
    assert_eq!(generation.mutation_score(), Some(0.0));
    let refused = h.generator.apply(&Principal::System, &generation).await;
    assert!(
        matches!(refused, Err(AgentError::Invalid { .. })),
        "{refused:?}"
    );
    assert!(!project.join("tests/test_scale_generated.py").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_the_model_is_asked() {
    let h = harness().await;
    let project = h.project("rs_parcels");
    let outside = tempfile::tempdir().unwrap();
    let cases: Vec<(NewGeneration, &str)> = vec![
        (h.new_generation(&project, "src/missing.rs", None), "target"),
        (
            h.new_generation(&project, "src/lib.rs:nope", None),
            "target",
        ),
        (
            h.new_generation(&project, "../rs_parcels/src/lib.rs", None),
            "target",
        ),
        (h.new_generation(&project, "/etc/passwd", None), "target"),
        (h.new_generation(&project, "Cargo.toml", None), "target"),
        (h.new_generation(outside.path(), "src/lib.rs", None), "path"),
        (
            h.new_generation(
                &project,
                "src/lib.rs",
                Some(vec!["make".into(), "test".into()]),
            ),
            "test",
        ),
        (
            h.new_generation(&project, "src/lib.rs", Some(vec![])),
            "test",
        ),
        (
            NewGeneration {
                rounds: Some(0),
                ..h.new_generation(&project, "src/lib.rs", None)
            },
            "rounds",
        ),
    ];
    for (new, field) in cases {
        let target = new.target.clone();
        let refused = h.generate(&Principal::System, new).await;
        assert!(
            matches!(&refused, Err(AgentError::Invalid { field: f, .. }) if f == field),
            "{target}: {refused:?}"
        );
    }
    // A target with nothing to mutate could never show a test failing.
    std::fs::write(project.join("src/empty.rs"), "//! Nothing.\n").unwrap();
    let refused = h
        .generate(
            &Principal::System,
            h.new_generation(&project, "src/empty.rs", None),
        )
        .await;
    assert!(
        matches!(&refused, Err(AgentError::Invalid { message, .. }) if message.contains("nothing to mutate")),
        "{refused:?}"
    );
    assert!(h.llm.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_agents_run_may_generate_or_apply() {
    let h = harness().await;
    let project = h.project("rs_parcels");
    for role in ["viewer", "user"] {
        let principal = Principal::User {
            user_id: uuid::Uuid::now_v7(),
            username: Some(role.to_owned()),
            session_id: None,
            roles: vec![role.to_owned()],
        };
        let refused = h
            .generate(&principal, h.new_generation(&project, "src/lib.rs", None))
            .await;
        assert!(
            matches!(refused, Err(AgentError::Core(Error::Forbidden(ref m))) if m.contains("agents:run")),
            "{role}: {refused:?}"
        );
        let generation = Generation {
            project: project.display().to_string(),
            target: "src/lib.rs".into(),
            function: None,
            test_file: "src/lib.rs".into(),
            content: Some("pub fn planted() {}\n".into()),
            tests: vec![],
            mutants: vec![],
            project_digest: String::new(),
            rounds: 1,
            tokens: 0,
            cost: 0.0,
        };
        let refused = h.generator.apply(&principal, &generation).await;
        assert!(
            matches!(refused, Err(AgentError::Core(Error::Forbidden(_)))),
            "{role}: {refused:?}"
        );
    }
    assert!(h.llm.requests().is_empty());
    assert!(
        !std::fs::read_to_string(project.join("src/lib.rs"))
            .unwrap()
            .contains("planted")
    );
}
