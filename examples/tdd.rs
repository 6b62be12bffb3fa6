//! The TDD agent on a small Rust crate with a seeded bug: the tests fail, a model answers
//! with a SEARCH/REPLACE edit, the agent applies it in a working copy, the tests pass, and the
//! change is accepted into the project. Then the model writes tests for `is_square`, and only
//! those that a mutant of `is_square` makes fail are kept. The model is a scripted OpenAI-compatible server on
//! 127.0.0.1 (trae's test double), so this needs no network and no key:
//!
//! ```sh
//! cargo run -p trae-agents --features testing --example tdd
//! ```
//!
//! With a real provider, register its endpoint instead (docs/llm.md) and drop the script;
//! docs/agents.md describes the loop, the sandbox and the rest.

// An example prints what it shows.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_agents::{NewGeneration, NewRun, Trae};
use trae_core::{
    ApiEndpointSpec, BudgetLimits, Config, EditOutcome, Principal, RequestMeta, TestVerdict,
};

const CARGO_TOML: &str =
    "[package]\nname = \"shapes\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";
const LIB_RS: &str = "/// The area of a rectangle.\npub fn area(width: u32, height: u32) -> u32 {\n    width + height\n}\n\n/// Whether a rectangle is a square.\npub fn is_square(width: u32, height: u32) -> bool {\n    width == height\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn area_multiplies() {\n        assert_eq!(super::area(3, 4), 12);\n    }\n}\n";
const FIX: &str = "The area multiplies the sides.\n\nsrc/lib.rs\n```rust\n<<<<<<< SEARCH\npub fn area(width: u32, height: u32) -> u32 {\n    width + height\n}\n=======\npub fn area(width: u32, height: u32) -> u32 {\n    width * height\n}\n>>>>>>> REPLACE\n```\n";

const TESTS: &str = "```rust\n#[test]\nfn equal_sides_make_a_square() {\n    assert!(is_square(4, 4));\n    assert!(!is_square(4, 5));\n}\n\n#[test]\nfn is_square_answers() {\n    let _ = is_square(1, 2);\n}\n```\n";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let workspace = dir.path().join("projects");
    let project = workspace.join("shapes");
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::write(project.join("Cargo.toml"), CARGO_TOML)?;
    std::fs::write(project.join("src/lib.rs"), LIB_RS)?;

    let env: HashMap<&str, String> = HashMap::from([
        ("TRAE_DATA_DIR", dir.path().display().to_string()),
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true".to_owned()),
        // The only directory the agents may work in.
        ("TRAE_AGENT_WORKSPACES", workspace.display().to_string()),
    ]);
    let trae = Trae::open(Config::from_sources(|k| env.get(k).cloned())?).await?;

    let model = ScriptedLlm::start().await?;
    let mut spec = ApiEndpointSpec::new("local", "llm.chat", model.base_url());
    spec.metadata = json!({"default_model": "scripted", "input_price_per_million": 0.1, "output_price_per_million": 0.4});
    trae.apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await?;
    model.push(Reply::text(FIX));

    let run = trae
        .run_tdd(
            &Principal::System,
            NewRun {
                path: project.display().to_string(),
                test: vec!["cargo".into(), "test".into(), "--quiet".into()],
                max_iterations: Some(3),
                model: None,
                budget: BudgetLimits {
                    cost: Some(0.05),
                    ..BudgetLimits::default()
                },
            },
            CancellationToken::new(),
        )
        .await?;
    println!(
        "run {}: {} after {} model round(s), {} tokens",
        run.id,
        run.status.as_str(),
        run.iterations,
        run.tokens
    );

    let detail = trae.tdd().get(&Principal::System, run.id).await?;
    for step in &detail.steps {
        let report = step.report.as_ref().expect("every step runs the tests");
        println!(
            "step {}: {} passed, {} failed, {} errors",
            step.index, report.passed, report.failed, report.errors
        );
        for edit in &step.edits {
            match &edit.outcome {
                EditOutcome::Applied { placement } => {
                    println!("  edit {} applied ({placement:?})", edit.block.path)
                }
                EditOutcome::Refused { reason, .. } => {
                    println!("  edit {} refused: {}", edit.block.path, reason.explain())
                }
            }
        }
    }
    for file in trae.tdd().diff(&Principal::System, run.id).await?.files {
        print!("{}", file.diff);
    }
    trae.tdd().accept(&Principal::System, run.id).await?;
    let fixed = std::fs::read_to_string(project.join("src/lib.rs"))?;
    assert!(fixed.contains("width * height"));
    println!("accepted into {}", project.display());

    // Test generation: the first test fails when `==` becomes `!=`; the second never fails.
    model.push(Reply::text(TESTS));
    let generation = trae
        .generate_tests(
            &Principal::System,
            NewGeneration {
                path: project.display().to_string(),
                target: "src/lib.rs:is_square".into(),
                ..NewGeneration::default()
            },
            &CancellationToken::new(),
        )
        .await?;
    for test in &generation.tests {
        println!("  {}: {:?}", test.name, test.verdict);
    }
    println!(
        "mutation score {:?} over {} mutants",
        generation.mutation_score(),
        generation.viable_mutants()
    );
    assert!(matches!(
        generation.tests[1].verdict,
        TestVerdict::CannotFail
    ));
    trae.test_generator()
        .apply(&Principal::System, &generation)
        .await?;
    println!("kept tests written to {}", generation.test_file);
    trae.close().await;
    Ok(())
}
