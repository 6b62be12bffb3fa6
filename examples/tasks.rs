//! The task queue without a server: enqueue tasks on a SQLite file, then run a worker with a
//! handler of our own until nothing is left to do.
//!
//! Run with `cargo run -p trae-storage --example tasks` (pass a database URL to use another).

#![allow(clippy::print_stdout)]

use trae_core::{NewTask, Principal, TaskContext, TaskFailure, Worker, WorkerOptions, handler_fn};
use trae_storage::Store;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = std::env::args().nth(1).unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("tasks.db").display()
        )
    });
    let store = Store::connect(&url).await?;
    let tasks = store.tasks();

    // Three greetings, the last one urgent; and one that is deduplicated by its key.
    let batch = ["ada", "grace", "edsger"]
        .iter()
        .enumerate()
        .map(|(i, name)| NewTask {
            priority: Some(if i == 2 { 1 } else { 5 }),
            ..NewTask::new("greet", serde_json::json!({ "name": name }))
        })
        .collect();
    tasks.enqueue_many(&Principal::System, batch).await?;
    let report = NewTask {
        unique_key: Some("daily-report".into()),
        ..NewTask::new("greet", serde_json::json!({ "name": "report" }))
    };
    let first = tasks.enqueue(&Principal::System, report.clone()).await?;
    let again = tasks.enqueue(&Principal::System, report).await?;
    println!(
        "unique key: second enqueue inserted={} and returned the same task: {}",
        again.inserted,
        again.task.id == first.task.id
    );

    let mut worker = Worker::new(tasks.clone(), WorkerOptions::default())?;
    worker.register(
        "greet",
        handler_fn(|ctx: TaskContext| async move {
            let name = ctx.payload()["name"]
                .as_str()
                .ok_or_else(|| TaskFailure::Fatal("payload.name must be a string".into()))?;
            println!("hello, {name} (attempt {})", ctx.task().attempt);
            Ok(Some(serde_json::json!({ "greeted": name })))
        }),
    )?;
    let summary = worker.run_until_idle().await?;
    println!(
        "claimed {}, completed {}, failed {}",
        summary.claimed, summary.completed, summary.failed
    );
    let stats = tasks.stats(&trae_core::Principal::System).await?;
    for queue in stats.queues {
        println!("queue {}: {:?}", queue.queue, queue.states);
    }
    store.close().await;
    Ok(())
}
