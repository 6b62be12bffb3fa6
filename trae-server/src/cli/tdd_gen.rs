//! `trae tdd gen`: test generation from the terminal, as the operator, on a project of this
//! machine (which counts as an allowed workspace). The mutants' test runs show as a progress
//! bar fed by the generation's events; the kept tests are printed as a diff, each proposed
//! test's verdict and the mutation score on stderr, and the tests are written into the
//! project only with `--apply`.

use std::time::Duration;

use anyhow::{Context, bail};
use trae_agents::sandbox::{parse_argv, unified_diff};
use trae_agents::{NewGeneration, Trae};
use trae_core::{BudgetLimits, Config, Generation, MutantOutcome, Principal, TestVerdict};

use super::tdd::cancel_on_ctrl_c;
use crate::write_stdout;

/// What `trae tdd gen` was asked for.
pub(crate) struct Gen {
    /// The project directory.
    pub path: std::path::PathBuf,
    /// `FILE[:FUNCTION]`.
    pub target: String,
    /// The test command line.
    pub test: Option<String>,
    /// The model to ask.
    pub model: Option<String>,
    /// Model rounds at most.
    pub rounds: Option<u32>,
    /// Tokens it may spend.
    pub max_tokens: Option<u64>,
    /// Dollars it may spend.
    pub max_cost: Option<f64>,
    /// Write the kept tests into the project.
    pub apply: bool,
}

/// Generates tests and prints them; an error exit when none was kept.
pub(crate) async fn generate(config: &Config, ask: Gen) -> anyhow::Result<()> {
    let test = ask.test.as_deref().map(parse_argv).transpose()?;
    let project = ask
        .path
        .canonicalize()
        .with_context(|| format!("cannot find {}", ask.path.display()))?;
    let mut config = config.clone();
    // The operator's own machine: the project named on the command line is the workspace.
    config.agent_workspaces.push(project.clone());
    let trae = Trae::open(config)
        .await
        .context("cannot open the database")?;
    let new = NewGeneration {
        path: project.display().to_string(),
        target: ask.target.clone(),
        test,
        model: ask.model.clone(),
        rounds: ask.rounds,
        budget: BudgetLimits {
            tokens: ask.max_tokens,
            cost: ask.max_cost,
            ..BudgetLimits::default()
        },
    };
    let result = execute(&trae, new, ask.apply).await;
    trae.close().await;
    result
}

async fn execute(trae: &Trae, new: NewGeneration, apply: bool) -> anyhow::Result<()> {
    let cancel = cancel_on_ctrl_c();
    let bar = indicatif::ProgressBar::new(1).with_style(
        indicatif::ProgressStyle::with_template("gen [{bar:30}] {pos}/{len} {msg} {elapsed}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut events = trae.store().events().subscribe();
    let progress_bar = bar.clone();
    let follow = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if event.kind != "tdd.gen.progress" {
                continue;
            }
            let p = &event.payload;
            progress_bar.set_length(p["total"].as_u64().unwrap_or(0).max(1));
            progress_bar.set_position(p["done"].as_u64().unwrap_or(0));
            progress_bar.set_message(match p["phase"].as_str() {
                Some("asking_model") => format!("asking the model (round {})", p["round"]),
                Some("testing") => "running the tests on the current code".to_owned(),
                _ => "running the tests under each mutant".to_owned(),
            });
        }
    });
    let generated = trae.generate_tests(&Principal::System, new, &cancel).await;
    follow.abort();
    bar.finish_and_clear();
    let generation = generated?;
    report(&generation)?;
    if generation.content.is_none() {
        bail!(
            "no test was kept after {} model rounds: none both passed and failed under a mutant",
            generation.rounds
        );
    }
    if apply {
        trae.test_generator()
            .apply(&Principal::System, &generation)
            .await?;
        eprintln!("written to {}", generation.test_file);
    } else {
        eprintln!("not written; rerun with --apply");
    }
    Ok(())
}

/// Prints the kept tests as a diff (stdout), and each test's verdict, the surviving mutants
/// and the score (stderr).
fn report(generation: &Generation) -> anyhow::Result<()> {
    if let Some(content) = &generation.content {
        let before = std::fs::read_to_string(
            std::path::Path::new(&generation.project).join(&generation.test_file),
        )
        .ok();
        write_stdout(&unified_diff(
            &generation.test_file,
            before.as_deref(),
            Some(content),
        ))?;
    }
    for test in &generation.tests {
        match &test.verdict {
            TestVerdict::Kept { kills } => eprintln!("kept     {} (kills {kills})", test.name),
            TestVerdict::FailsOnCurrentCode { message } => {
                eprintln!(
                    "dropped  {}: fails on the current code: {message}",
                    test.name
                );
            }
            TestVerdict::CannotFail => {
                eprintln!("dropped  {}: passes under every mutant", test.name);
            }
        }
    }
    for result in &generation.mutants {
        if result.outcome == MutantOutcome::Survived {
            eprintln!(
                "survived line {} ({}): {}",
                result.mutant.line,
                result.mutant.kind.as_str(),
                result.mutant.after.trim()
            );
        }
    }
    let score = generation
        .mutation_score()
        .map_or_else(|| "n/a".to_owned(), |s| format!("{:.0}%", s * 100.0));
    eprintln!(
        "mutation score {score}: {} of {} mutants detected ({} did not compile); {} of {} tests kept; {} tokens, ${:.4}",
        generation.detected_mutants(),
        generation.viable_mutants(),
        generation.mutants.len() - generation.viable_mutants(),
        generation.kept().count(),
        generation.tests.len(),
        generation.tokens,
        generation.cost
    );
    Ok(())
}
