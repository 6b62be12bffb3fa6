//! The TDD agent's own costs (issue 23), outside the model and the tests:
//!
//! - `apply_chain`: parsing an answer and placing its block in a 10 kB file, for a block
//!   placed exactly, one with an indentation offset, one found only ignoring spaces, and one
//!   refused with a "did you mean" hint (target: ≥ 10,000 blocks/s each); the baseline is
//!   `str::replacen` of the same text, the least any placement costs.
//! - `loop_overhead`: one iteration's work besides the model call and the test command:
//!   building the prompt from a failing report over a working copy, parsing and applying the
//!   answer, writing the file, and storing the step on a real SQLite file (target: ≤ 50 ms).

use std::collections::HashMap;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trae_agents::Trae;
use trae_agents::sandbox::WorkingCopy;
use trae_agents::tdd::context::{self, Round};
use trae_agents::tdd::edits::{apply_blocks, parse_blocks};
use trae_core::{
    BudgetLimits, Config, FailureKind, RunSpec, RunStatus, TddRepository, TddRun, TddStep,
    TestFailure, TestReport,
};

/// A 10 kB Python module: 200 functions of a few lines each.
fn module() -> String {
    let mut text = String::new();
    let mut n = 0;
    while text.len() < 10_000 {
        text.push_str(&format!(
            "def handler_{n}(request):\n    value = request.get(\"k{n}\")\n    return value * {n}\n\n"
        ));
        n += 1;
    }
    text
}

fn answer(search: &str, replace: &str) -> String {
    format!(
        "Fix:\n\nsrc/app.py\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"
    )
}

fn apply_chain(c: &mut Criterion) {
    let file = module();
    let cases = [
        (
            "exact",
            answer(
                "def handler_57(request):\n    value = request.get(\"k57\")\n",
                "def handler_57(request):\n    value = request.get(\"key57\")\n",
            ),
        ),
        (
            "indentation",
            answer(
                "    def handler_57(request):\n        value = request.get(\"k57\")\n",
                "    def handler_57(request):\n        value = request.get(\"key57\")\n",
            ),
        ),
        (
            "whitespace",
            answer(
                "def  handler_57(request):  \n    value =  request.get(\"k57\")\n",
                "def handler_57(request):\n    value = request.get(\"key57\")\n",
            ),
        ),
        (
            "refused",
            answer(
                "def handler_57(request):\n    value = request.get(\"k58\")\n",
                "x\n",
            ),
        ),
    ];
    let mut group = c.benchmark_group("apply_chain");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_replacen", |b| {
        b.iter(|| {
            file.replacen(
                "value = request.get(\"k57\")",
                "value = request.get(\"key57\")",
                1,
            )
        });
    });
    for (name, text) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let blocks = parse_blocks(text);
                let plan = apply_blocks(&blocks, |_| Some(file.clone()));
                assert_eq!(plan.applied(), usize::from(*name != "refused"));
                plan
            });
        });
    }
    group.finish();
}

fn loop_overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("src")).expect("project");
    std::fs::write(project.join("src/app.py"), module()).expect("module");
    std::fs::write(project.join("tests.py"), "from src.app import handler_57\n\ndef test_57():\n    assert handler_57({\"key57\": 1}) == 57\n").expect("tests");
    let env: HashMap<&str, String> =
        HashMap::from([("TRAE_DATA_DIR", dir.path().display().to_string())]);
    let trae = runtime
        .block_on(Trae::open(
            Config::from_sources(|k| env.get(k).cloned()).expect("config"),
        ))
        .expect("trae");
    let repo: Arc<dyn TddRepository> = trae.store().tdd_repository();
    let clock = trae.store().clock();
    let run = TddRun {
        id: uuid::Uuid::now_v7(),
        owner: None,
        spec: RunSpec {
            project: project.display().to_string(),
            test_command: vec!["pytest".into()],
            max_iterations: 50,
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
        files: Default::default(),
        originals: Default::default(),
        created_at: clock.now(),
        started_at: None,
        finished_at: None,
        accepted_at: None,
    };
    runtime.block_on(repo.create(&run)).expect("run");
    let copy = WorkingCopy::create(&project, None).expect("working copy");
    let report = TestReport {
        failed: 1,
        failures: vec![TestFailure {
            test_id: "tests.py::test_57".into(),
            file: Some("tests.py".into()),
            line: Some(4),
            message: "KeyError: 'k57'".into(),
            excerpt: "tests.py:4: in test_57\nsrc/app.py:230: in handler_57\nE   KeyError: 'k57'"
                .into(),
            kind: FailureKind::Failed,
        }],
        exit_code: Some(1),
        ..TestReport::default()
    };
    let flip = [
        answer(
            "    value = request.get(\"k57\")\n",
            "    value = request.get(\"key57\")\n",
        ),
        answer(
            "    value = request.get(\"key57\")\n",
            "    value = request.get(\"k57\")\n",
        ),
    ];
    let mut index = 0u32;
    c.bench_function("loop_overhead", |b| {
        b.iter(|| {
            index += 1;
            let prompt = context::build(
                Round {
                    command: "pytest -q",
                    report: &report,
                    previous_edits: &[],
                    token_budget: 6_000,
                },
                |path| copy.read(path),
            );
            let blocks = parse_blocks(&flip[index as usize % 2]);
            let plan = apply_blocks(&blocks, |path| copy.read(path));
            for (path, content) in &plan.changed {
                copy.write(path, content).expect("write");
            }
            let step = TddStep {
                run_id: run.id,
                index,
                prompt_summary: Some(prompt.summary),
                answer: Some(flip[0].clone()),
                edits: plan.results,
                report: Some(report.clone()),
                tokens: 100,
                cost: 0.0,
                elapsed_ms: 1,
                at: clock.now(),
            };
            runtime.block_on(repo.add_step(&step)).expect("step");
        });
    });
    drop(copy);
    runtime.block_on(trae.close());
}

criterion_group!(benches, apply_chain, loop_overhead);
criterion_main!(benches);
