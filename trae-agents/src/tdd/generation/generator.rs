//! The test generator: asks the model, judges each proposed test on the current code and
//! under every mutant, keeps those that can fail, and writes them on request.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use trae_core::identity::permission::Gate;
use trae_core::llm::budget::{BudgetLimits, RunBudget};
use trae_core::llm::chat::{ChatMessage, ChatModel, ChatRequest};
use trae_core::tdd::generation::{
    GeneratedTest, Generation, Mutant, MutantOutcome, MutantResult, TestVerdict,
};
use trae_core::tdd::run::AGENTS_RUN;
use trae_core::tdd::test_report::{FailureKind, TestReport};
use trae_core::{Clock, EventBus, Principal};

use super::source::{Language, Source};
use super::test_items::{self, RUST_MODULE, TestItem};
use super::{mutants, prompt};
use crate::error::{AgentError, Result};
use crate::sandbox::{SandboxedCommand, WorkingCopy, project_digest, write_into_project};
use crate::tdd::agent::{AgentSettings, EVENT_SOURCE};
use crate::tdd::edits::project_path;
use crate::tdd::test_runner::{RunnerKind, run_tests, runner_kind};
use crate::tdd::workspaces::Workspaces;

/// Model rounds by default: a second when the first kept no test.
pub const DEFAULT_ROUNDS: u32 = 2;
/// The most model rounds one generation may ask for.
pub const MAX_ROUNDS: u32 = 5;

/// A generation to run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGeneration {
    /// The project's directory; must be inside an allowed workspace.
    pub path: String,
    /// `FILE` or `FILE:FUNCTION`, the file relative to the project (`.py` or `.rs`).
    pub target: String,
    /// The test command as argv (pytest or `cargo test`); by default `python -m pytest -q`
    /// for Python and `cargo test --quiet` for Rust.
    pub test: Option<Vec<String>>,
    /// The model to ask.
    pub model: Option<String>,
    /// Model rounds at most (default [`DEFAULT_ROUNDS`]): a later round is asked only when
    /// no test was kept.
    pub rounds: Option<u32>,
    /// The generation's budget (tokens, cost, wall time).
    pub budget: BudgetLimits,
}

/// The test generator.
#[derive(Clone)]
pub struct TestGenerator {
    gate: Gate,
    workspaces: Workspaces,
    events: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    settings: AgentSettings,
}

impl std::fmt::Debug for TestGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestGenerator")
            .field("workspaces", &self.workspaces)
            .finish_non_exhaustive()
    }
}

/// What one round's tests came to.
struct Judged {
    tests: Vec<GeneratedTest>,
    mutants: Vec<MutantResult>,
    content: Option<String>,
}

/// The tests of one round, as files to write around a (mutated) target.
struct Candidate<'a> {
    language: Language,
    target: &'a str,
    test_file: &'a str,
    code: String,
    items: Vec<TestItem>,
    /// The test command, narrowed to these tests.
    argv: Vec<String>,
}

impl Candidate<'_> {
    /// The files to write: the target as given, and the tests in `keep`.
    fn files(&self, target: &str, keep: &BTreeSet<String>) -> Vec<(String, String)> {
        let tests = test_items::prune(&self.code, &self.items, keep);
        match self.language {
            Language::Python => vec![
                (self.target.to_owned(), target.to_owned()),
                (self.test_file.to_owned(), tests),
            ],
            Language::Rust => vec![(
                self.target.to_owned(),
                test_items::with_rust_module(target, &tests),
            )],
        }
    }
}

impl TestGenerator {
    /// A generator confined to `workspaces`, deciding through `gate`, publishing progress on
    /// `events`, running commands as `settings` say.
    pub fn new(
        gate: Gate,
        workspaces: Vec<PathBuf>,
        events: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        settings: AgentSettings,
    ) -> Self {
        Self {
            gate,
            workspaces: Workspaces::new(workspaces),
            events,
            clock,
            settings,
        }
    }

    /// The same generator running commands as `settings` say.
    #[must_use]
    pub fn with_settings(mut self, settings: AgentSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Generates tests for `new.target` with `model`, acting for `principal` (needs
    /// `agents:run`). The project is not touched: the kept tests are in the result, written
    /// into the project only by [`TestGenerator::apply`]. `cancel` stops it between test runs.
    pub async fn generate(
        &self,
        principal: &Principal,
        new: NewGeneration,
        model: Arc<dyn ChatModel>,
        cancel: &CancellationToken,
    ) -> Result<Generation> {
        self.gate.check(principal, AGENTS_RUN).await?;
        let (file, function) = parse_target(&new.target)?;
        let language = Language::of(&file).ok_or_else(|| {
            AgentError::invalid("target", "only .py and .rs files can be targets")
        })?;
        let rounds = new.rounds.unwrap_or(DEFAULT_ROUNDS);
        if !(1..=MAX_ROUNDS).contains(&rounds) {
            return Err(AgentError::invalid(
                "rounds",
                format!("must be between 1 and {MAX_ROUNDS}"),
            ));
        }
        new.budget.validate()?;
        let argv = match new.test {
            Some(argv) if !argv.is_empty() => argv,
            Some(_) => return Err(AgentError::invalid("test", "the test command is empty")),
            None => default_command(language),
        };
        if !matches!(runner_kind(&argv), RunnerKind::Pytest | RunnerKind::Cargo) {
            return Err(AgentError::invalid(
                "test",
                "test generation runs tests one by one, so it needs pytest or `cargo test`",
            ));
        }
        let project = self.workspaces.confine(&new.path)?;
        let scratch = self.settings.scratch.clone();
        let (copy, digest) = tokio::task::spawn_blocking(move || {
            let digest = project_digest(&project)?;
            Ok::<_, AgentError>((WorkingCopy::create(&project, scratch.as_deref())?, digest))
        })
        .await
        .map_err(|e| AgentError::Sandbox(format!("making the working copy: {e}")))??;
        let original = copy.read(&file).ok_or_else(|| {
            AgentError::invalid("target", format!("{file} is not a file of the project"))
        })?;
        let body = Source::scan(&original, language)
            .body(function.as_deref())
            .ok_or_else(|| {
                AgentError::invalid(
                    "target",
                    format!(
                        "there is no function {} in {file}",
                        function.as_deref().unwrap_or_default()
                    ),
                )
            })?;
        let mutants = mutants::mutants(&original, language, body);
        if mutants.is_empty() {
            return Err(AgentError::invalid(
                "target",
                "it holds nothing to mutate (no comparison, literal or statement), so no test could be shown to fail",
            ));
        }
        let test_file = match language {
            Language::Python => python_test_file(&copy, &file),
            Language::Rust => file.clone(),
        };

        let owner = principal.user_id();
        let budget = RunBudget::new(new.budget, self.clock.clone());
        let first = prompt::request(&prompt::Target {
            path: &file,
            content: &original,
            function: function.as_deref(),
            language,
        });
        let mut ask = first.clone();
        let (mut tokens, mut cost, mut asked) = (0, 0.0, 0);
        let mut judged = Judged {
            tests: Vec::new(),
            mutants: Vec::new(),
            content: None,
        };
        for round in 1..=rounds {
            self.progress(owner, &file, "asking_model", round, 0, mutants.len());
            let mut request = ChatRequest::new(vec![
                ChatMessage::system(prompt::SYSTEM_PROMPT),
                ChatMessage::user(ask.clone()),
            ]);
            request.model = new.model.clone().filter(|m| !m.trim().is_empty());
            request.temperature = Some(0.0);
            request.max_tokens = Some(self.settings.answer_tokens);
            let answer = tokio::select! {
                answer = model.chat(request, &budget) => answer?,
                () = cancel.cancelled() => return Err(cancelled()),
            };
            asked = round;
            tokens += answer.usage.total();
            cost += answer.cost;
            let text = answer.content.unwrap_or_default();
            let Some(code) = prompt::extract_code(&text, language) else {
                ask = prompt::retry(&first, "- your answer held no code block\n");
                continue;
            };
            let code = match language {
                Language::Python => code,
                Language::Rust => test_items::rust_module_body(&code),
            };
            let items = test_items::test_items(&code, language);
            if items.is_empty() {
                ask = prompt::retry(&first, "- your code held no test function\n");
                continue;
            }
            let mut candidate = Candidate {
                language,
                target: &file,
                test_file: &test_file,
                code,
                items,
                argv: Vec::new(),
            };
            candidate.argv = selecting(&argv, &candidate);
            judged = self
                .judge(owner, &copy, &candidate, &original, &mutants, cancel)
                .await?;
            if judged.content.is_some() {
                break;
            }
            ask = prompt::retry(&first, &feedback(&judged));
        }
        let generation = Generation {
            project: copy.project().to_string_lossy().into_owned(),
            target: file,
            function,
            test_file,
            content: judged.content,
            tests: judged.tests,
            mutants: judged.mutants,
            project_digest: digest,
            rounds: asked,
            tokens,
            cost,
        };
        self.events.publish_owned(
            EVENT_SOURCE,
            "tdd.gen.finished",
            owner,
            json!({
                "target": generation.target,
                "kept": generation.kept().count(),
                "proposed": generation.tests.len(),
                "mutants": generation.viable_mutants(),
                "detected": generation.detected_mutants(),
                "score": generation.mutation_score(),
            }),
        );
        Ok(generation)
    }

    /// Writes a generation's kept tests into its project, acting for `principal` (needs
    /// `agents:run`); refuses when nothing was kept, or with a conflict when the project
    /// changed since the generation began.
    pub async fn apply(&self, principal: &Principal, generation: &Generation) -> Result<()> {
        self.gate.check(principal, AGENTS_RUN).await?;
        let project = self.workspaces.confine(&generation.project)?;
        let Some(content) = generation.content.clone() else {
            return Err(AgentError::invalid(
                "tests",
                "no test was kept, so there is nothing to write",
            ));
        };
        let files = BTreeMap::from([(generation.test_file.clone(), Some(content))]);
        let digest = generation.project_digest.clone();
        tokio::task::spawn_blocking(move || write_into_project(&project, &digest, &files))
            .await
            .map_err(|e| AgentError::Sandbox(format!("writing the tests: {e}")))?
    }

    /// Runs a round's tests on the current code, drops those that fail, runs the rest under
    /// every mutant, and keeps those that fail under at least one.
    async fn judge(
        &self,
        owner: Option<uuid::Uuid>,
        copy: &WorkingCopy,
        candidate: &Candidate<'_>,
        original: &str,
        mutants: &[(Mutant, String)],
        cancel: &CancellationToken,
    ) -> Result<Judged> {
        let names: Vec<String> = candidate.items.iter().map(|i| i.name.clone()).collect();
        let mut failing: BTreeMap<String, String> = BTreeMap::new();
        let mut passing: BTreeSet<String> = names.iter().cloned().collect();
        let mut baseline = Duration::ZERO;

        // The current code: a test that fails here is wrong about it. Dropping one can change
        // how the rest run (a shared import, a name clash), so run again until green (each run
        // drops at least one test, so this ends).
        self.progress(owner, candidate.target, "testing", 0, 0, mutants.len());
        for _ in 0..=names.len() {
            if passing.is_empty() {
                break;
            }
            let (report, run) = self
                .run(
                    copy,
                    candidate,
                    &candidate.files(original, &passing),
                    None,
                    cancel,
                )
                .await?;
            baseline = baseline.max(run.elapsed);
            if let Some(broken) = broken(&report) {
                for name in std::mem::take(&mut passing) {
                    failing.insert(name, broken.clone());
                }
                break;
            }
            let failed = failed_tests(&report, &passing);
            if failed.is_empty() {
                if !report.is_green() || report.passed == 0 {
                    let why = "the tests did not run (check the test command)".to_owned();
                    for name in std::mem::take(&mut passing) {
                        failing.insert(name, why.clone());
                    }
                }
                break;
            }
            for (name, message) in failed {
                passing.remove(&name);
                failing.insert(name, message);
            }
        }

        // Each mutant: a test that now fails has caught it.
        let mut kills: BTreeMap<String, u32> = BTreeMap::new();
        let mut results = Vec::with_capacity(mutants.len());
        let wall = (baseline * 10)
            .max(Duration::from_secs(10))
            .min(self.settings.limits.wall_time);
        for (done, (mutant, mutated)) in mutants.iter().enumerate() {
            self.progress(owner, candidate.target, "mutants", 0, done, mutants.len());
            let outcome = if passing.is_empty() {
                MutantOutcome::Survived
            } else {
                let files = candidate.files(mutated, &passing);
                let (report, run) = self
                    .run(copy, candidate, &files, Some(wall), cancel)
                    .await?;
                if run.timed_out {
                    MutantOutcome::TimedOut
                } else if broken(&report).is_some() {
                    MutantOutcome::Stillborn
                } else {
                    let by: Vec<String> = failed_tests(&report, &passing).into_keys().collect();
                    if by.is_empty() && !report.is_green() {
                        // It failed in a way no test accounts for: nothing to credit.
                        MutantOutcome::Stillborn
                    } else if by.is_empty() {
                        MutantOutcome::Survived
                    } else {
                        for name in &by {
                            *kills.entry(name.clone()).or_default() += 1;
                        }
                        MutantOutcome::Killed { by }
                    }
                }
            };
            results.push(MutantResult {
                mutant: mutant.clone(),
                outcome,
            });
        }
        self.progress(
            owner,
            candidate.target,
            "mutants",
            0,
            mutants.len(),
            mutants.len(),
        );

        // Proof: the kept tests, alone, pass on the current code. One that fails now (flaky,
        // or leaning on a test that was dropped) is dropped too, and its kills with it.
        let mut kept: BTreeSet<String> = kills.keys().cloned().collect();
        let mut content = None;
        for _ in 0..=kept.len() {
            if kept.is_empty() {
                break;
            }
            let files = candidate.files(original, &kept);
            let (report, _) = self.run(copy, candidate, &files, None, cancel).await?;
            if report.is_green() && report.passed > 0 {
                content = files
                    .into_iter()
                    .find(|(path, _)| path == candidate.test_file)
                    .map(|(_, content)| content);
                break;
            }
            let failed = failed_tests(&report, &kept);
            let failed = if failed.is_empty() {
                let why = broken(&report)
                    .unwrap_or_else(|| "failed when run again with only the kept tests".into());
                kept.iter()
                    .map(|name| (name.clone(), why.clone()))
                    .collect()
            } else {
                failed
            };
            for (name, message) in failed {
                kept.remove(&name);
                kills.remove(&name);
                failing.insert(
                    name,
                    format!("{message} (when run again with only the kept tests)"),
                );
            }
        }
        for result in &mut results {
            if let MutantOutcome::Killed { by } = &mut result.outcome {
                by.retain(|name| kept.contains(name));
                if by.is_empty() {
                    result.outcome = MutantOutcome::Survived;
                }
            }
        }
        let tests = names
            .into_iter()
            .map(|name| {
                let verdict = if let Some(message) = failing.get(&name) {
                    TestVerdict::FailsOnCurrentCode {
                        message: message.clone(),
                    }
                } else if let Some(&kills) = kills.get(&name) {
                    TestVerdict::Kept { kills }
                } else {
                    TestVerdict::CannotFail
                };
                GeneratedTest { name, verdict }
            })
            .collect();
        Ok(Judged {
            tests,
            mutants: results,
            content,
        })
    }

    /// Writes `files` into the working copy and runs the candidate's tests there.
    async fn run(
        &self,
        copy: &WorkingCopy,
        candidate: &Candidate<'_>,
        files: &[(String, String)],
        wall: Option<Duration>,
        cancel: &CancellationToken,
    ) -> Result<(TestReport, crate::sandbox::CommandRun)> {
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        for (path, content) in files {
            copy.write(path, content)?;
        }
        let mut writable = vec![copy.root().to_path_buf(), copy.tmp().to_path_buf()];
        writable.extend(self.settings.writable.iter().cloned());
        let mut limits = self.settings.limits.clone();
        if let Some(wall) = wall {
            limits.wall_time = wall;
        }
        let mut env = self.settings.env.clone();
        if candidate.language == Language::Python {
            // A bytecode cache is checked by the source's size and mtime in whole seconds: a
            // mutant of the same size written within the second would run the cached
            // original. No cache is written, and none is read (an empty prefix tree).
            env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
            env.insert(
                "PYTHONPYCACHEPREFIX".into(),
                copy.tmp().join("no-pycache").display().to_string(),
            );
        }
        let command = SandboxedCommand {
            argv: candidate.argv.clone(),
            cwd: copy.root().to_path_buf(),
            writable,
            tmp: copy.tmp().to_path_buf(),
            env,
            limits,
        };
        let ran = run_tests(&command, cancel).await?;
        if ran.1.cancelled {
            return Err(cancelled());
        }
        Ok(ran)
    }

    fn progress(
        &self,
        owner: Option<uuid::Uuid>,
        target: &str,
        phase: &str,
        round: u32,
        done: usize,
        total: usize,
    ) {
        self.events.publish_owned(
            EVENT_SOURCE,
            "tdd.gen.progress",
            owner,
            json!({ "target": target, "phase": phase, "round": round, "done": done, "total": total }),
        );
    }
}

/// `FILE` or `FILE:FUNCTION`, the file made a safe project-relative path.
fn parse_target(target: &str) -> Result<(String, Option<String>)> {
    let (file, function) = match target.rsplit_once(':') {
        Some((file, function)) => (file, Some(function.trim())),
        None => (target, None),
    };
    let file = project_path(file).ok_or_else(|| {
        AgentError::invalid(
            "target",
            "must be a file inside the project (no absolute path, no `..`)",
        )
    })?;
    let function = match function {
        None => None,
        Some(name)
            if !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_alphanumeric() || c == '_') =>
        {
            Some(name.to_owned())
        }
        Some(name) => {
            return Err(AgentError::invalid(
                "target",
                format!("{name:?} is not a function name"),
            ));
        }
    };
    Ok((file, function))
}

/// The default test command of a language.
fn default_command(language: Language) -> Vec<String> {
    let words: &[&str] = match language {
        Language::Python => &["python", "-m", "pytest", "-q"],
        Language::Rust => &["cargo", "test", "--quiet"],
    };
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The test command narrowed to the generated tests: pytest is given the test file; `cargo
/// test` the generated module as its filter.
fn selecting(argv: &[String], candidate: &Candidate<'_>) -> Vec<String> {
    let mut argv = argv.to_vec();
    match candidate.language {
        Language::Python => argv.push(candidate.test_file.to_owned()),
        Language::Rust => {
            if !argv.iter().any(|a| a == "--") {
                argv.push("--".into());
            }
            argv.push(format!("{RUST_MODULE}::"));
        }
    }
    argv
}

/// Where a Python target's generated tests go: `tests/test_<stem>_generated.py` when the
/// project has a `tests` directory, else beside the target; a free name either way.
fn python_test_file(copy: &WorkingCopy, target: &str) -> String {
    let stem = target
        .rsplit('/')
        .next()
        .and_then(|name| name.strip_suffix(".py"))
        .unwrap_or("target");
    let dir = if copy.root().join("tests").is_dir() {
        "tests/".to_owned()
    } else {
        target
            .rsplit_once('/')
            .map(|(dir, _)| format!("{dir}/"))
            .unwrap_or_default()
    };
    (1..)
        .map(|n| match n {
            1 => format!("{dir}test_{stem}_generated.py"),
            n => format!("{dir}test_{stem}_generated_{n}.py"),
        })
        .find(|path| copy.read(path).is_none())
        .unwrap_or_default()
}

/// Why every test failed at once, when the run could not judge them one by one (a compile
/// or collection error, or a failure no test is named in).
fn broken(report: &TestReport) -> Option<String> {
    report
        .failures
        .iter()
        .find(|f| {
            matches!(
                f.kind,
                FailureKind::Compile | FailureKind::Collection | FailureKind::Command
            )
        })
        .map(|f| format!("{}: {}", f.test_id, f.message))
}

/// The tests of `names` that failed, with why.
fn failed_tests(report: &TestReport, names: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut failed = BTreeMap::new();
    for failure in &report.failures {
        let segments: Vec<&str> = failure
            .test_id
            .split("::")
            .map(|s| s.split('[').next().unwrap_or(s))
            .collect();
        if let Some(name) = segments.iter().rev().find(|s| names.contains(**s)) {
            failed
                .entry((*name).to_owned())
                .or_insert_with(|| failure.message.clone());
        }
    }
    failed
}

/// What the model is told about a round that kept nothing.
fn feedback(judged: &Judged) -> String {
    let mut out = String::new();
    for test in &judged.tests {
        match &test.verdict {
            TestVerdict::FailsOnCurrentCode { message } => {
                out.push_str(&format!(
                    "- {} fails on the current code: {message}\n",
                    test.name
                ));
            }
            TestVerdict::CannotFail => out.push_str(&format!(
                "- {} passes even when the code is changed, so it checks nothing\n",
                test.name
            )),
            TestVerdict::Kept { .. } => {}
        }
    }
    let survivors: Vec<&MutantResult> = judged
        .mutants
        .iter()
        .filter(|m| m.outcome == MutantOutcome::Survived)
        .take(10)
        .collect();
    if !survivors.is_empty() {
        out.push_str("Changes to the code that no test noticed:\n");
        for m in survivors {
            out.push_str(&format!(
                "- line {}: `{}` became `{}`\n",
                m.mutant.line,
                m.mutant.before.trim(),
                m.mutant.after.trim()
            ));
        }
    }
    out
}

fn cancelled() -> AgentError {
    AgentError::Core(trae_core::Error::Conflict("cancelled".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_a_safe_file_and_maybe_a_function() {
        assert_eq!(
            parse_target("shop/cost.py:shipping").unwrap(),
            ("shop/cost.py".into(), Some("shipping".into()))
        );
        assert_eq!(
            parse_target("./src/lib.rs").unwrap(),
            ("src/lib.rs".into(), None)
        );
        for bad in [
            "../x.py",
            "/etc/x.py",
            "m.py:",
            "m.py:not a name",
            "m.py:9x",
        ] {
            assert!(
                matches!(parse_target(bad), Err(AgentError::Invalid { ref field, .. }) if field == "target"),
                "{bad}"
            );
        }
    }

    #[test]
    fn failures_are_credited_to_the_test_they_name() {
        let failure = |id: &str, kind| trae_core::TestFailure {
            test_id: id.into(),
            file: None,
            line: None,
            message: format!("{id} failed"),
            excerpt: String::new(),
            kind,
        };
        let names: BTreeSet<String> = ["test_a", "TestGroup", "rejects"].map(String::from).into();
        let report = TestReport {
            failures: vec![
                failure(
                    "tests/test_m_generated.py::test_a[1-2]",
                    FailureKind::Failed,
                ),
                failure(
                    "tests/test_m_generated.py::TestGroup::test_x",
                    FailureKind::Error,
                ),
                failure("cost::trae_generated::rejects", FailureKind::Failed),
                failure("tests/test_other.py::test_z", FailureKind::Failed),
            ],
            ..TestReport::default()
        };
        let failed = failed_tests(&report, &names);
        assert_eq!(
            failed.keys().collect::<Vec<_>>(),
            ["TestGroup", "rejects", "test_a"]
        );
        assert_eq!(broken(&report), None);
        let compile = TestReport {
            failures: vec![failure("src/lib.rs", FailureKind::Compile)],
            ..TestReport::default()
        };
        assert_eq!(
            broken(&compile).as_deref(),
            Some("src/lib.rs: src/lib.rs failed")
        );
    }
}
