//! `trae tdd run` and `trae tdd replay`: the TDD agent from the terminal, as the operator, on
//! a project of this machine (which counts as an allowed workspace). A run executes here, with
//! a progress bar fed by its events; its diff is printed, and written into the project only
//! with `--apply` (and only if the tests passed and the project did not change meanwhile).

use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;
use trae_agents::sandbox::parse_argv;
use trae_agents::{NewRun, Trae};
use trae_core::{BudgetLimits, Config, Principal, RunStatus};
use uuid::Uuid;

use crate::write_stdout;

/// What `trae tdd run` was asked for.
pub(crate) struct Run {
    /// The project directory.
    pub path: std::path::PathBuf,
    /// The test command line.
    pub test: String,
    /// Model rounds at most.
    pub max_iterations: Option<u32>,
    /// The model to ask.
    pub model: Option<String>,
    /// Tokens the run may spend.
    pub max_tokens: Option<u64>,
    /// Dollars the run may spend.
    pub max_cost: Option<f64>,
    /// Write the changes into the project when the tests pass.
    pub apply: bool,
}

/// Runs the agent on a project and prints its result; an error exit when it did not pass.
pub(crate) async fn run(config: &Config, run: Run) -> anyhow::Result<()> {
    let test = parse_argv(&run.test)?;
    let project = run
        .path
        .canonicalize()
        .with_context(|| format!("cannot find {}", run.path.display()))?;
    let mut config = config.clone();
    // The operator's own machine: the project named on the command line is the workspace.
    config.agent_workspaces.push(project.clone());
    let trae = Trae::open(config)
        .await
        .context("cannot open the database")?;
    let result = execute(&trae, &run, project, test).await;
    trae.close().await;
    result
}

async fn execute(
    trae: &Trae,
    run: &Run,
    project: std::path::PathBuf,
    test: Vec<String>,
) -> anyhow::Result<()> {
    let new = NewRun {
        path: project.display().to_string(),
        test,
        max_iterations: run.max_iterations,
        model: run.model.clone(),
        budget: BudgetLimits {
            tokens: run.max_tokens,
            cost: run.max_cost,
            ..BudgetLimits::default()
        },
    };
    let cancel = cancel_on_ctrl_c();
    let bar = indicatif::ProgressBar::new(u64::from(run.max_iterations.unwrap_or(5)) + 1)
        .with_style(
            indicatif::ProgressStyle::with_template("tdd [{bar:30}] {pos}/{len} {msg} {elapsed}")
                .context("progress bar template")?
                .progress_chars("=> "),
        );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut events = trae.store().events().subscribe();
    let progress_bar = bar.clone();
    let follow = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if event.source != trae_agents::tdd::agent::EVENT_SOURCE {
                continue;
            }
            let p = &event.payload;
            match event.kind.as_str() {
                "tdd.progress" => {
                    progress_bar.set_message(format!(
                        "step {} {}",
                        p["index"],
                        p["phase"].as_str().unwrap_or("")
                    ));
                }
                "tdd.step" => {
                    progress_bar.inc(1);
                    progress_bar.println(format!(
                        "step {}: {} passed, {} failed, {} errors; edits {} applied, {} refused",
                        p["index"],
                        p["passed"],
                        p["failed"],
                        p["errors"],
                        p["edits_applied"],
                        p["edits_refused"]
                    ));
                }
                _ => {}
            }
        }
    });
    let finished = trae.run_tdd(&Principal::System, new, cancel).await;
    follow.abort();
    bar.finish_and_clear();
    let finished = finished?;
    report(trae, finished.id).await?;
    if run.apply && finished.status == RunStatus::Passed {
        trae.tdd().accept(&Principal::System, finished.id).await?;
        eprintln!("applied to {}", project.display());
    } else if finished.status == RunStatus::Passed && !finished.files.is_empty() {
        eprintln!(
            "not applied; rerun with --apply, or POST /api/tdd/runs/{}/accept",
            finished.id
        );
    }
    if finished.status != RunStatus::Passed {
        bail!(
            "the run ended {}: {}",
            finished.status.as_str(),
            finished.reason.unwrap_or_default()
        );
    }
    Ok(())
}

/// A token cancelled when the user presses Ctrl-C.
pub(crate) fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling…");
            on_ctrl_c.cancel();
        }
    });
    cancel
}

/// Prints a run's outcome and diff.
async fn report(trae: &Trae, id: Uuid) -> anyhow::Result<()> {
    let detail = trae.tdd().get(&Principal::System, id).await?;
    let run = &detail.run;
    let diff = trae.tdd().diff(&Principal::System, id).await?;
    for file in &diff.files {
        write_stdout(&file.diff)?;
    }
    eprintln!(
        "run {}: {} after {} model rounds ({} tokens, ${:.4}): {}",
        run.id,
        run.status.as_str(),
        run.iterations,
        run.tokens,
        run.cost,
        run.reason.as_deref().unwrap_or("")
    );
    Ok(())
}

/// `trae tdd replay RUN`: re-applies a run's recorded edits to a fresh working copy and
/// re-runs the tests after each step, without a model; an error exit when it does not reach
/// the recorded result.
pub(crate) async fn replay(config: &Config, id: Uuid) -> anyhow::Result<()> {
    let trae = Trae::open(config.clone())
        .await
        .context("cannot open the database")?;
    let replayed = trae
        .replay_tdd(&Principal::System, id, &CancellationToken::new())
        .await;
    trae.close().await;
    let replay = replayed?;
    for (index, green) in replay.green.iter().enumerate() {
        write_stdout(&format!(
            "step {index}: {}\n",
            if *green { "green" } else { "failing" }
        ))?;
    }
    if !replay.matches {
        bail!(
            "the replay did not reach the recorded result (the run was {})",
            replay.recorded.as_str()
        );
    }
    write_stdout(&format!(
        "replayed: same result as recorded ({})\n",
        replay.recorded.as_str()
    ))?;
    Ok(())
}
