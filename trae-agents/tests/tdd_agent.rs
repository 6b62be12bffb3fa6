//! The TDD agent end to end, through the composition root, against a scripted
//! OpenAI-compatible server on 127.0.0.1: six seeded-bug projects (three Python with pytest,
//! three Rust with cargo) fixed and replayed, and the runs that end otherwise (budget, stuck,
//! failed, cancelled, accept refused), edits that try to leave the project, the events of a
//! run, the worker's `tdd.run` task, and who may do what.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_agents::{AgentError, AgentSettings, NewRun, TddAgent, Trae};
use trae_core::{
    ApiEndpointSpec, BudgetLimits, Config, EditOutcome, Error, PageRequest, Principal, Refusal,
    RequestMeta, RunFilter, RunStatus, TddRun,
};
use trae_storage::storage_test;

mod common;
use common::{copy_dir, python};

fn config(url: &str, dir: &Path, workspace: &Path) -> Config {
    let env: HashMap<&str, String> = HashMap::from([
        ("TRAE_DATABASE_URL", url.to_owned()),
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

/// A seeded-bug project's scenario (tests/tdd_projects/NAME/scenario.json).
struct Scenario {
    test: Vec<String>,
    failing_before: Vec<String>,
    fix: String,
    wrong_fix: String,
}

fn scenario(name: &str) -> Scenario {
    let path = format!(
        "{}/tests/tdd_projects/{name}/scenario.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    Scenario {
        test: strings(&raw["test"]),
        failing_before: strings(&raw["failing_before"]),
        fix: raw["fix"].as_str().unwrap().to_owned(),
        wrong_fix: raw["wrong_fix"].as_str().unwrap().to_owned(),
    }
}

struct Harness {
    trae: Trae,
    llm: ScriptedLlm,
    agent: TddAgent,
    workspace: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

async fn harness(url: Option<String>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| format!("sqlite://{}/trae.db?mode=rwc", dir.path().display()));
    let trae = Trae::open(config(&url, dir.path(), workspace.path()))
        .await
        .unwrap();
    let llm = ScriptedLlm::start().await.unwrap();
    let mut spec = ApiEndpointSpec::new("local", "llm.chat", llm.base_url());
    spec.timeout_ms = 20_000;
    spec.metadata = json!({"default_model": "scripted", "input_price_per_million": 1.0, "output_price_per_million": 2.0});
    trae.apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await
        .unwrap();
    // pytest's plugin autoload costs seconds per run in the CI virtualenv; the projects use none.
    let settings = AgentSettings {
        env: [("PYTEST_DISABLE_PLUGIN_AUTOLOAD".to_owned(), "1".to_owned())].into(),
        ..AgentSettings::default()
    };
    let store = trae.store();
    let agent = TddAgent::new(
        store.tdd_repository(),
        store.events(),
        store.clock(),
        settings,
    );
    Harness {
        trae,
        llm,
        agent,
        workspace,
        _dir: dir,
    }
}

impl Harness {
    /// A copy of fixture project `name` in the workspace, and its test command (with the
    /// Python that has pytest); `None` when a Python project cannot run here.
    fn project(&self, name: &str) -> Option<(PathBuf, Vec<String>)> {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/tdd_projects")
            .join(name);
        let to = self.workspace.path().join(name);
        copy_dir(&from, &to);
        std::fs::remove_file(to.join("scenario.json")).unwrap();
        let mut test = scenario(name).test;
        if test[0] == "python" {
            test[0] = python()?;
        }
        Some((to, test))
    }

    fn new_run(&self, project: &Path, test: Vec<String>) -> NewRun {
        NewRun {
            path: project.display().to_string(),
            test,
            max_iterations: None,
            model: None,
            budget: BudgetLimits::default(),
        }
    }

    async fn run(&self, new: NewRun) -> TddRun {
        self.run_with(new, CancellationToken::new()).await
    }

    async fn run_with(&self, new: NewRun, cancel: CancellationToken) -> TddRun {
        let principal = Principal::System;
        let created = self.trae.tdd().create(&principal, new).await.unwrap();
        assert_eq!(created.status, RunStatus::Queued);
        let model = self.trae.models().acting_for(principal);
        self.agent.execute(created.id, model, cancel).await.unwrap()
    }
}

fn user(role: &str) -> Principal {
    Principal::User {
        user_id: uuid::Uuid::now_v7(),
        username: Some(role.to_owned()),
        session_id: None,
        roles: vec![role.to_owned()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_seeded_bugs_are_fixed_proven_and_replayed() {
    let h = harness(None).await;
    let names = [
        "py_off_by_one",
        "py_wrong_operator",
        "py_two_files",
        "rs_missing_case",
        "rs_compile_error",
        "rs_doctest",
    ];
    for name in names {
        let Some((project, test)) = h.project(name) else {
            continue;
        };
        let scenario = scenario(name);
        let before = h.llm.requests().len();
        h.llm.push(Reply::text(&scenario.fix));
        let run = h.run(h.new_run(&project, test)).await;
        assert_eq!(run.status, RunStatus::Passed, "{name}: {:?}", run.reason);
        assert_eq!(run.iterations, 1, "{name}");
        assert!(run.final_report.as_ref().unwrap().is_green(), "{name}");
        assert!(run.tokens > 0 && run.cost > 0.0, "{name}: usage is counted");

        let detail = h.trae.tdd().get(&Principal::System, run.id).await.unwrap();
        assert_eq!(detail.steps.len(), 2, "{name}");
        let first = detail.steps[0].report.as_ref().unwrap();
        assert!(!first.is_green(), "{name}: the bug shows before the fix");
        if name != "rs_compile_error" {
            for failing in &scenario.failing_before {
                assert!(
                    first
                        .failures
                        .iter()
                        .any(|f| f.test_id.contains(failing.as_str())),
                    "{name}: {failing} not among {:?}",
                    first
                        .failures
                        .iter()
                        .map(|f| &f.test_id)
                        .collect::<Vec<_>>()
                );
            }
        } else {
            assert_eq!(
                first.failures[0].kind,
                trae_core::FailureKind::Compile,
                "{name}"
            );
        }
        let round = &detail.steps[1];
        assert!(
            round.edits.iter().all(|e| e.applied()),
            "{name}: {:?}",
            round.edits
        );
        assert!(
            round.prompt_summary.as_ref().unwrap().contains("failures"),
            "{name}"
        );

        // The model saw the failures and the code they point to.
        let request = &h.llm.requests()[before];
        let prompt = request["messages"][1]["content"].as_str().unwrap();
        assert!(
            prompt.contains("## Failures") && prompt.contains("## Files"),
            "{name}"
        );

        // The project is untouched until the accept; the diff shows the fix.
        let diff = h.trae.tdd().diff(&Principal::System, run.id).await.unwrap();
        assert!(!diff.project_changed);
        assert!(
            !diff.files.is_empty() && diff.files.iter().all(|f| f.diff.contains("\n+")),
            "{name}"
        );
        let replay = h
            .agent
            .replay(run.id, &CancellationToken::new())
            .await
            .unwrap();
        assert!(
            replay.matches,
            "{name}: the replay must reach the recorded result"
        );
        assert_eq!(replay.green, vec![false, true], "{name}");

        let accepted = h
            .trae
            .tdd()
            .accept(&Principal::System, run.id)
            .await
            .unwrap();
        assert!(accepted.accepted_at.is_some());
        for file in &diff.files {
            let now = std::fs::read_to_string(project.join(&file.path)).unwrap();
            assert_eq!(
                Some(now),
                run.files[&file.path],
                "{name}: {} accepted",
                file.path
            );
        }
        let again = h.trae.tdd().accept(&Principal::System, run.id).await;
        assert!(
            matches!(again, Err(AgentError::Core(Error::Conflict(_)))),
            "{name}: {again:?}"
        );
    }
    let listed = h
        .trae
        .tdd()
        .list(
            &Principal::System,
            RunFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(listed.total >= 3);
}

storage_test!(
    a_run_is_stored_and_published_on_either_engine,
    |url: String| async move {
        let h = harness(Some(url)).await;
        let Some((project, test)) = h.project("rs_missing_case") else {
            return;
        };
        let mut events = h.trae.store().events().subscribe();
        h.llm.push(Reply::text(&scenario("rs_missing_case").fix));
        let run = h.run(h.new_run(&project, test)).await;
        assert_eq!(run.status, RunStatus::Passed, "{:?}", run.reason);

        let mut kinds = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(200), events.recv())
            .await
            .map(Result::ok)
        {
            if event.source == "tdd" {
                assert_eq!(event.payload["run_id"], json!(run.id));
                kinds.push(event.kind.clone());
            }
        }
        assert_eq!(kinds.first().map(String::as_str), Some("tdd.run.started"));
        assert_eq!(kinds.last().map(String::as_str), Some("tdd.run.finished"));
        assert_eq!(kinds.iter().filter(|k| *k == "tdd.step").count(), 2);
        assert!(kinds.iter().any(|k| k == "tdd.progress"));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_too_small_for_the_prompt_spends_nothing() {
    let h = harness(None).await;
    let (project, test) = h.project("rs_missing_case").unwrap();
    h.llm.push(Reply::text(&scenario("rs_missing_case").fix));
    let mut new = h.new_run(&project, test);
    new.budget = BudgetLimits {
        tokens: Some(50),
        ..BudgetLimits::default()
    };
    let run = h.run(new).await;
    assert_eq!(run.status, RunStatus::BudgetExhausted, "{:?}", run.reason);
    assert!(h.llm.requests().is_empty(), "the model was never called");
    assert_eq!((run.tokens, run.iterations), (0, 0));
    assert!(run.files.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_failure_after_the_same_edit_twice_is_stuck_and_one_round_fails() {
    let h = harness(None).await;
    let (project, test) = h.project("rs_missing_case").unwrap();
    let wrong = scenario("rs_missing_case").wrong_fix;
    for _ in 0..5 {
        h.llm.push(Reply::text(&wrong));
    }
    let run = h.run(h.new_run(&project, test.clone())).await;
    assert_eq!(run.status, RunStatus::Stuck, "{:?}", run.reason);
    assert!(
        run.iterations < 5,
        "stopped before its iterations ran out: {}",
        run.iterations
    );
    let steps = h
        .trae
        .tdd()
        .get(&Principal::System, run.id)
        .await
        .unwrap()
        .steps;
    assert!(steps[1].edits[0].applied());
    let failing = |i: usize| -> Vec<String> {
        let report = steps[i].report.as_ref().unwrap();
        report.failures.iter().map(|f| f.test_id.clone()).collect()
    };
    let last = steps.len() - 1;
    assert_eq!(
        failing(last),
        failing(last - 1),
        "stuck means the same failures again"
    );
    let accept = h.trae.tdd().accept(&Principal::System, run.id).await;
    assert!(
        matches!(accept, Err(AgentError::Core(Error::Conflict(_)))),
        "{accept:?}"
    );

    let (project, _) = (h.workspace.path().join("rs_missing_case"), ());
    h.llm.push(Reply::text(&wrong));
    let mut once = h.new_run(&project, test);
    once.max_iterations = Some(1);
    let run = h.run(once).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        !run.final_report.unwrap().is_green(),
        "a failed run never claims a fix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_cancelled_while_the_model_thinks_and_by_the_service() {
    let h = harness(None).await;
    let (project, test) = h.project("rs_missing_case").unwrap();
    h.llm.push(Reply::Slow(Duration::from_secs(30)));
    let cancel = CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        later.cancel();
    });
    let started = Instant::now();
    let run = h.run_with(h.new_run(&project, test.clone()), cancel).await;
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(20));

    // Cancelled through the service (another node would do the same): the loop notices.
    h.llm.push(Reply::Slow(Duration::from_secs(30)));
    let created = h
        .trae
        .tdd()
        .create(&Principal::System, h.new_run(&project, test))
        .await
        .unwrap();
    let service = h.trae.tdd().clone();
    let id = created.id;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        service.cancel(&Principal::System, id).await.unwrap();
    });
    let model = h.trae.models().acting_for(Principal::System);
    let started = Instant::now();
    let run = h
        .agent
        .execute(id, model, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(20));
    let again = h.trae.tdd().cancel(&Principal::System, id).await;
    assert!(matches!(again, Err(AgentError::Core(Error::Conflict(_)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_is_refused_when_the_project_changed_underneath() {
    let h = harness(None).await;
    let (project, test) = h.project("rs_missing_case").unwrap();
    h.llm.push(Reply::text(&scenario("rs_missing_case").fix));
    let run = h.run(h.new_run(&project, test)).await;
    assert_eq!(run.status, RunStatus::Passed);
    std::fs::write(project.join("README.md"), "edited by the user meanwhile\n").unwrap();
    let diff = h.trae.tdd().diff(&Principal::System, run.id).await.unwrap();
    assert!(diff.project_changed);
    let before = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
    let accept = h.trae.tdd().accept(&Principal::System, run.id).await;
    assert!(
        matches!(accept, Err(AgentError::Core(Error::Conflict(ref m))) if m.contains("changed")),
        "{accept:?}"
    );
    assert_eq!(
        std::fs::read_to_string(project.join("src/lib.rs")).unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_commands_that_leave_the_project_are_refused() {
    let h = harness(None).await;
    let (project, test) = h.project("rs_missing_case").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), project.join("link_out")).unwrap();
    let escape = format!(
        "../escaped.rs\n<<<<<<< SEARCH\n=======\nfn pwned() {{}}\n>>>>>>> REPLACE\n\n\
         {abs}\n<<<<<<< SEARCH\n=======\nfn pwned() {{}}\n>>>>>>> REPLACE\n\n\
         link_out/new.rs\n<<<<<<< SEARCH\n=======\nfn pwned() {{}}\n>>>>>>> REPLACE\n\n\
         .git/hooks/pre-commit\n<<<<<<< SEARCH\n=======\nrm -rf /\n>>>>>>> REPLACE\n\n{fix}",
        abs = outside.path().join("abs.rs").display(),
        fix = scenario("rs_missing_case").fix,
    );
    h.llm.push(Reply::text(&escape));
    let run = h.run(h.new_run(&project, test)).await;
    assert_eq!(
        run.status,
        RunStatus::Passed,
        "the safe block still applies: {:?}",
        run.reason
    );
    let steps = h
        .trae
        .tdd()
        .get(&Principal::System, run.id)
        .await
        .unwrap()
        .steps;
    let refused: Vec<Refusal> = steps[1]
        .edits
        .iter()
        .filter_map(|e| match e.outcome {
            EditOutcome::Refused { reason, .. } => Some(reason),
            EditOutcome::Applied { .. } => None,
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            Refusal::UnsafePath,
            Refusal::UnsafePath,
            Refusal::UnsafePath,
            Refusal::UnsafePath
        ]
    );
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "nothing was written outside"
    );
    assert!(!h.workspace.path().join("escaped.rs").exists());
    assert!(
        run.files.keys().all(|p| p == "src/lib.rs"),
        "{:?}",
        run.files.keys()
    );

    // A test command that writes outside the working copy is stopped by the kernel.
    let target = outside.path().join("written-by-test.txt");
    let script = format!("echo owned > {}", target.display());
    let run = h
        .run(h.new_run(&project, vec!["sh".into(), "-c".into(), script]))
        .await;
    assert!(!target.exists());
    assert_eq!(run.status, RunStatus::Error, "{:?}", run.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_executes_queued_runs_and_refuses_a_vanished_owner() {
    let h = harness(None).await;
    let (project, test) = h.project("rs_missing_case").unwrap();
    h.llm.push(Reply::text(&scenario("rs_missing_case").fix));
    let run = h
        .trae
        .tdd()
        .create(&Principal::System, h.new_run(&project, test.clone()))
        .await
        .unwrap();
    // A run whose owner has no user record (deleted meanwhile) cannot act for anyone.
    let ghost = Principal::User {
        user_id: uuid::Uuid::now_v7(),
        username: None,
        session_id: None,
        roles: vec!["developer".into()],
    };
    let orphan = h
        .trae
        .tdd()
        .create(&ghost, h.new_run(&project, test))
        .await
        .unwrap();
    // A task enqueued by someone else with another user's run id executes nothing.
    let (alice, mallory) = (user("developer"), user("developer"));
    let alices = h
        .trae
        .tdd()
        .prepare(&alice, h.new_run(&project, vec!["true".into()]))
        .await
        .unwrap();
    let task = trae_core::NewTask::new("tdd.run", json!({"run_id": alices.id}));
    let hijack = h.trae.tasks().enqueue(&mallory, task).await.unwrap().task;
    let worker = h.trae.worker(vec!["default".into()], 1).unwrap();
    worker.run_until_idle().await.unwrap();
    let alices = h
        .trae
        .tdd()
        .get(&Principal::System, alices.id)
        .await
        .unwrap()
        .run;
    assert_eq!(
        alices.status,
        RunStatus::Queued,
        "not executed as alice by mallory's task"
    );
    let hijack = h
        .trae
        .tasks()
        .get(&Principal::System, hijack.id)
        .await
        .unwrap();
    assert_eq!(hijack.state, trae_core::TaskState::Failed);

    let done = h
        .trae
        .tdd()
        .get(&Principal::System, run.id)
        .await
        .unwrap()
        .run;
    assert_eq!(done.status, RunStatus::Passed, "{:?}", done.reason);
    let orphan = h
        .trae
        .tdd()
        .get(&Principal::System, orphan.id)
        .await
        .unwrap()
        .run;
    assert_eq!(orphan.status, RunStatus::Error);
    assert!(orphan.reason.unwrap().contains("no longer exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_agents_run_may_start_runs_and_only_owners_or_admins_see_them() {
    let h = harness(None).await;
    let (project, test) = h.project("rs_missing_case").unwrap();
    let runs = h.trae.tdd();
    for role in ["viewer", "user"] {
        let refused = runs
            .create(&user(role), h.new_run(&project, test.clone()))
            .await;
        assert!(
            matches!(refused, Err(AgentError::Core(Error::Forbidden(ref m))) if m.contains("agents:run")),
            "{role}: {refused:?}"
        );
        let listed = runs
            .list(&user(role), RunFilter::default(), PageRequest::default())
            .await;
        assert!(
            matches!(listed, Err(AgentError::Core(Error::Forbidden(_)))),
            "{role}"
        );
    }
    let alice = user("developer");
    let mallory = user("developer");
    let run = runs
        .create(&alice, h.new_run(&project, test.clone()))
        .await
        .unwrap();
    assert_eq!(run.owner, alice.user_id());

    for attempt in [
        runs.get(&mallory, run.id).await.map(|_| ()),
        runs.cancel(&mallory, run.id).await.map(|_| ()),
        runs.accept(&mallory, run.id).await.map(|_| ()),
        runs.diff(&mallory, run.id).await.map(|_| ()),
    ] {
        assert!(
            matches!(attempt, Err(AgentError::Core(Error::NotFound { .. }))),
            "{attempt:?}"
        );
    }
    let theirs = runs
        .list(&mallory, RunFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(theirs.total, 0, "another developer's runs are not listed");
    let mine = runs
        .list(&alice, RunFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(mine.total, 1);
    let everyone = runs
        .list(&user("admin"), RunFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(everyone.total, 1);
    runs.cancel(&user("admin"), run.id).await.unwrap();

    // Projects outside TRAE_AGENT_WORKSPACES, or that do not exist, are refused alike.
    let elsewhere = tempfile::tempdir().unwrap();
    for path in [
        elsewhere.path().display().to_string(),
        "/etc".into(),
        format!("{}/../..", project.display()),
        "/no/such/dir".into(),
    ] {
        let mut new = h.new_run(&project, test.clone());
        new.path = path.clone();
        let refused = runs.create(&alice, new).await;
        assert!(
            matches!(refused, Err(AgentError::Invalid { ref field, .. }) if field == "path"),
            "{path}: {refused:?}"
        );
    }
    let mut bad = h.new_run(&project, Vec::new());
    assert!(matches!(
        runs.create(&alice, bad.clone()).await,
        Err(AgentError::Core(Error::Validation { .. }))
    ));
    bad.test = test;
    bad.max_iterations = Some(0);
    assert!(matches!(
        runs.create(&alice, bad).await,
        Err(AgentError::Core(Error::Validation { .. }))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_begin_ends_in_error_instead_of_staying_queued() {
    let h = harness(None).await;
    let (project, test) = h.project("rs_missing_case").unwrap();
    let created = h
        .trae
        .tdd()
        .prepare(&Principal::System, h.new_run(&project, test))
        .await
        .unwrap();
    std::fs::remove_dir_all(&project).unwrap();
    let model = h.trae.models().acting_for(Principal::System);
    let failed = h
        .agent
        .execute(created.id, model, CancellationToken::new())
        .await;
    assert!(failed.is_err());
    let run = h
        .trae
        .tdd()
        .get(&Principal::System, created.id)
        .await
        .unwrap()
        .run;
    assert_eq!(run.status, RunStatus::Error);
    assert!(run.reason.is_some());
    assert!(h.llm.requests().is_empty());
}
