//! `trae bench queue`: the task queue benchmark.

use anyhow::Context;

use trae_core::tasks::queue_bench::{BenchPhase, QueueBenchOptions};
use trae_storage::Store;

use crate::write_stdout;

/// The password for `user create`: TRAE_PASSWORD, else the first line of stdin.
pub(crate) async fn bench_queue(
    database: Option<String>,
    options: &QueueBenchOptions,
) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let url = database.unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            scratch.path().join("bench.db").display()
        )
    });
    let store = Store::connect(&url)
        .await
        .context("cannot open the bench database")?;
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:>10} [{bar:40}] {pos}/{len} {per_sec} {elapsed}",
    )
    .context("progress bar template")?
    .progress_chars("=> ");
    let phases: Vec<indicatif::ProgressBar> = [
        BenchPhase::Enqueue,
        BenchPhase::BurnDown,
        BenchPhase::Latency,
    ]
    .iter()
    .map(|p| {
        bars.add(
            indicatif::ProgressBar::new(0)
                .with_style(style.clone())
                .with_prefix(p.as_str()),
        )
    })
    .collect();
    let shown = phases.clone();
    let report =
        trae_core::tasks::queue_bench::run(&store.tasks(), options, move |phase, done, total| {
            let bar = &shown[phase as usize];
            bar.set_length(total);
            bar.set_position(done);
            if done == total {
                bar.finish();
            }
        })
        .await
        .context("the benchmark failed")?;
    for bar in phases {
        bar.finish();
    }
    store.close().await;
    let l = report.start_latency_ms;
    write_stdout(&format!(
        "backend            {}\n\
         tasks              {} (workers {} x concurrency {}, batches of {})\n\
         enqueue            {:.0} tasks/s\n\
         burn-down          {:.0} tasks/s ({:.2} s)\n\
         enqueue-to-start   p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms ({} samples, idle workers)\n\
         not completed      {}\n",
        store.backend().as_str(),
        options.tasks,
        options.workers,
        options.concurrency,
        options.batch,
        report.enqueue_per_sec,
        report.burn_down_per_sec,
        report.burn_down_secs,
        l.p50,
        l.p95,
        l.p99,
        l.max,
        options.latency_samples,
        report.not_completed,
    ))?;
    Ok(())
}
