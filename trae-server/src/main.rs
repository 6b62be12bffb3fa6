//! The `trae` command: serve the API, move the schema, print the spec.

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use trae_agents::Trae;
use trae_auth::{Registration, RequestMeta};
use trae_core::tasks::queue_bench::QueueBenchOptions;
use trae_core::{Config, Principal};
use trae_server::{App, logging, serve};
use trae_storage::{Store, StoreOptions};

/// jemalloc rather than glibc's malloc: glibc kept what the server freed (a login's 19 MiB of
/// argon2 memory, the buffers of a burst of connections) resident in its per-thread arenas, so
/// a server that had served traffic never shrank back (issue 20). jemalloc's background
/// threads hand freed pages back to the system within seconds, busy or idle.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// trae: an AI-powered production backend.
#[derive(Debug, Parser)]
#[command(name = "trae", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API, Swagger UI and spec (TRAE_BIND / PORT, TRAE_DATABASE_URL), and
    /// run task workers in-process.
    Serve {
        /// Tasks run at once by the in-process worker (default: the number of cores; 0 runs
        /// no worker).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Run a task worker until SIGINT or SIGTERM.
    Worker {
        /// The queues to serve, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "default")]
        queues: Vec<String>,
        /// Tasks run at once (default: the number of cores).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Show or move the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the OpenAPI spec (JSON) to stdout.
    Openapi,
    /// Measure this machine: `trae bench queue`.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage the secrets vault as the operator: values in on stdin, out on stdout.
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Back up, verify and restore the database (never the secrets master key).
    Backup {
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Identity chores for the operator.
    Auth {
        #[command(subcommand)]
        action: AuthAction,
    },
    /// The event stream: what every service publishes.
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Language models, through the `llm.chat` endpoints of the API registry.
    Llm {
        #[command(subcommand)]
        action: LlmAction,
    },
    /// The SOLO agent: a genesis interview that turns an idea into a spec.
    Solo {
        #[command(subcommand)]
        action: SoloAction,
    },
    /// The TDD agent: make a project's failing tests pass with a model, in a working copy.
    Tdd {
        #[command(subcommand)]
        action: TddAction,
    },
}

#[derive(Debug, Subcommand)]
enum SoloAction {
    /// Answer the genesis interview's questions in the terminal until it writes the spec,
    /// printed as markdown. `:revise N` changes an earlier answer, `:quit` leaves it for later.
    Interview {
        /// The project type: web_app, api, cli, library, data_pipeline or other (asked for
        /// when left out).
        #[arg(long = "type")]
        project_type: Option<String>,
        /// The project idea (asked for when left out).
        #[arg(long)]
        idea: Option<String>,
        /// Go on with an interview left earlier.
        #[arg(long, conflicts_with_all = ["project_type", "idea"])]
        resume: Option<uuid::Uuid>,
    },
}

#[derive(Debug, Subcommand)]
enum TddAction {
    /// Run the tests of a project in a working copy and have a model fix what fails, until
    /// they pass; prints the diff, and writes it into the project with `--apply`.
    Run {
        /// The project directory.
        #[arg(long)]
        path: std::path::PathBuf,
        /// The test command, e.g. "pytest -q" or "cargo test" (split like a shell, never run
        /// by one).
        #[arg(long)]
        test: String,
        /// Model rounds at most (default 5).
        #[arg(long)]
        max_iterations: Option<u32>,
        /// The model to ask (each endpoint's default when left out).
        #[arg(long)]
        model: Option<String>,
        /// Tokens the run may spend on models.
        #[arg(long)]
        max_tokens: Option<u64>,
        /// Dollars the run may spend on models.
        #[arg(long)]
        max_cost: Option<f64>,
        /// Write the changes into the project when the tests pass.
        #[arg(long)]
        apply: bool,
    },
    /// Have a model write tests for a file or a function, and keep only those that pass on
    /// the current code and fail under at least one of its mutants; prints them as a diff
    /// with the mutation score, and writes them into the project with `--apply`.
    Gen {
        /// The project directory.
        #[arg(long)]
        path: std::path::PathBuf,
        /// The file to test, relative to the project, and optionally one function:
        /// `FILE[:FUNCTION]` (`.py` or `.rs`).
        #[arg(long)]
        target: String,
        /// The test command: pytest or `cargo test` (default `python -m pytest -q` or
        /// `cargo test --quiet`, by the target's language).
        #[arg(long)]
        test: Option<String>,
        /// The model to ask (each endpoint's default when left out).
        #[arg(long)]
        model: Option<String>,
        /// Model rounds at most (default 2); another is asked only when none was kept.
        #[arg(long)]
        rounds: Option<u32>,
        /// Tokens it may spend on models.
        #[arg(long)]
        max_tokens: Option<u64>,
        /// Dollars it may spend on models.
        #[arg(long)]
        max_cost: Option<f64>,
        /// Write the kept tests into the project.
        #[arg(long)]
        apply: bool,
    },
    /// Re-apply a run's recorded edits to a fresh working copy and re-run its tests, without
    /// a model; fails unless it reaches the recorded result.
    Replay {
        /// The run's id.
        run: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
enum LlmAction {
    /// Ask a model once, as the operator; the answer is printed as it is written, and a
    /// summary (model, endpoint, tokens, cost, time) goes to stderr.
    Chat {
        /// The prompt; read from stdin when left out or `-`.
        prompt: Option<String>,
        /// A system message put first.
        #[arg(long)]
        system: Option<String>,
        /// The model (the first endpoint's default when left out).
        #[arg(long)]
        model: Option<String>,
        /// The most tokens of the answer.
        #[arg(long)]
        max_tokens: Option<u32>,
        /// Sampling temperature, 0 to 2.
        #[arg(long)]
        temperature: Option<f64>,
        /// A JSON Schema file the answer must satisfy (checked, with one repair round).
        #[arg(long)]
        schema: Option<std::path::PathBuf>,
        /// An author persona's id: its rendered prompt becomes the system message.
        #[arg(long)]
        persona: Option<String>,
        /// Print the whole answer as one JSON object instead of streaming its text.
        #[arg(long)]
        json: bool,
    },
    /// List the model endpoints: default model, models served, context window, health.
    Models {
        /// One JSON array instead of readable lines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EventsAction {
    /// Follow events live (as the operator: every topic, every user's), one line each, until
    /// Ctrl-C.
    Tail {
        /// Topics, comma-separated (tasks, health, alerts, apis, audit, content, backups,
        /// pets, bench, system); all when left out.
        #[arg(long)]
        topics: Option<String>,
        /// Replay from after this seq first (from now when left out).
        #[arg(long)]
        since: Option<i64>,
        /// The epoch --since belongs to (history of another epoch is reported lost).
        #[arg(long)]
        epoch: Option<String>,
        /// One JSON object per line, as the HTTP API shows events.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuthAction {
    /// Make a new access-token signing key; the current one keeps verifying for one
    /// access-token lifetime, so nobody is signed out. Every node on the database follows
    /// within a minute.
    RotateSigningKey,
}

#[derive(Debug, Subcommand)]
enum BackupAction {
    /// Take a consistent online backup (SQLite: VACUUM INTO, safe while trae serve runs;
    /// PostgreSQL: pg_dump) and write `<file>.manifest.json` beside it. Refused while
    /// another backup (e.g. trae serve's scheduled one) is running.
    Create {
        /// Where to write it (default: TRAE_BACKUP_DIR, <data dir>/backups, as
        /// trae-<timestamp>.db, or .dump on PostgreSQL).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// List the backups in TRAE_BACKUP_DIR (<data dir>/backups), newest first.
    List,
    /// Check a backup against its manifest (size, sha256) and run SQLite's integrity_check.
    Verify {
        /// The backup file.
        path: std::path::PathBuf,
    },
    /// Replace the SQLite database with a verified backup; refused while trae serve or
    /// trae worker uses it. The previous file is kept as <db>.before-restore-<timestamp>.
    Restore {
        /// The backup file.
        path: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SecretsAction {
    /// Set a secret's value (a new version) from stdin: all of it, less one trailing newline.
    /// The value is never taken as an argument, so it stays out of shell history and `ps`.
    Set {
        /// The name (1–128 characters of A-Z, a-z, 0-9, _ . -, not starting with a dot).
        name: String,
        /// A new description ("" clears it; left out, the current one stays).
        #[arg(long)]
        description: Option<String>,
        /// A tag (repeatable); given, the tags replace the current ones.
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Print a secret's value to stdout, followed by one newline.
    Get {
        /// The name.
        name: String,
        /// The version (default: the latest).
        #[arg(long)]
        version: Option<u32>,
    },
    /// List secrets (never their values).
    List {
        /// Only names starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Only secrets with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// List a secret's stored versions, newest first.
    Versions {
        /// The name.
        name: String,
    },
    /// Delete a secret with every version.
    Delete {
        /// The name.
        name: String,
    },
    /// List the master keys the database knows, oldest first.
    MasterKeys,
    /// Re-wrap every data key under a new master key (base64 of 32 bytes, from stdin or
    /// --key-file). The previous key keeps reading until it is retired.
    RotateMasterKey {
        /// Read the new key from this file instead of stdin.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
    },
    /// End a rotation's overlap: remove every data key wrapped by this old master key.
    RetireMasterKey {
        /// The old key's id (see `trae secrets master-keys`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Create a user; the password comes from TRAE_PASSWORD or the first line of stdin.
    Create {
        /// The username (3–32 characters of a-z, 0-9, _ . -).
        username: String,
        /// The email address.
        #[arg(long)]
        email: String,
        /// A role to give (repeatable), e.g. --role admin.
        #[arg(long = "role", default_value = "user")]
        roles: Vec<String>,
        /// A display name.
        #[arg(long)]
        full_name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchWhat {
    /// Enqueue no-op tasks in batches, burn them down, and measure enqueue-to-start latency.
    Queue {
        /// No-op tasks to enqueue and burn down.
        #[arg(long, default_value_t = 10_000)]
        tasks: u32,
        /// Workers draining the queue, each running --concurrency tasks at once.
        #[arg(long, default_value_t = 1)]
        workers: u32,
        /// Tasks each worker runs at once.
        #[arg(long, default_value_t = 64)]
        concurrency: u32,
        /// Tasks per enqueue call.
        #[arg(long, default_value_t = 1_000)]
        batch: u32,
        /// Tasks enqueued one at a time for the latency figures.
        #[arg(long, default_value_t = 200)]
        latency_samples: u32,
        /// The database to measure (default: a temporary SQLite file, never trae.db). Its
        /// tasks go to the queue `bench`; use a scratch database.
        #[arg(long)]
        database: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// List every migration and whether it is applied.
    Status,
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migrations.
    Down {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
}

fn main() -> anyhow::Result<()> {
    let started_at = chrono::Utc::now();
    let cli = Cli::parse();
    let config = Config::load()?;
    logging::init(&config.log, config.log_format).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(cli.command, config, started_at))
}

async fn run(
    command: Command,
    config: Config,
    started_at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match command {
        Command::Serve { workers } => {
            // Held while serving, so `trae backup restore` refuses to replace the database.
            let _in_use = trae_storage::backup::DatabaseLock::shared(&config.database_url)?;
            let trae = Trae::open(config)
                .await
                .context("cannot open the database and its services")?;
            if let Some(admin) = trae
                .bootstrap_admin()
                .await
                .context("cannot create the first admin from TRAE_ADMIN_USERNAME")?
            {
                tracing::info!(username = %admin.username, "created the first admin");
            }
            let worker = match workers.unwrap_or_else(cores) {
                0 => None,
                n => Some(
                    trae.worker(vec!["default".into()], n)
                        .context("cannot start the in-process worker")?,
                ),
            };
            tracing::debug!(
                startup_ms = (chrono::Utc::now() - started_at).num_milliseconds(),
                "services ready"
            );
            serve::serve_with_worker(trae, worker)
                .await
                .context("server failed")?;
        }
        Command::Worker {
            queues,
            concurrency,
        } => {
            let _in_use = trae_storage::backup::DatabaseLock::shared(&config.database_url)?;
            let trae = Trae::open(config)
                .await
                .context("cannot open the database and its services")?;
            // Capability calls inject credentials: fail now, not at the first task.
            trae.vault()
                .await
                .context("cannot open the secrets vault")?;
            let worker = trae
                .worker(queues, concurrency.unwrap_or_else(cores))
                .context("cannot start the worker")?;
            let summary = serve::run_worker(worker).await.context("worker failed")?;
            tracing::info!(
                claimed = summary.claimed,
                completed = summary.completed,
                failed = summary.failed,
                "worker stopped"
            );
            trae.close().await;
        }
        Command::Migrate { action } => {
            let options = StoreOptions {
                migrate: false,
                // On SQLite a migration holds its transaction open on the one writer
                // connection; nothing else may write while it runs.
                event_log: false,
                ..StoreOptions::default()
            };
            let store = Store::connect_with(&config.database_url, options)
                .await
                .context("cannot open the database")?;
            match action {
                MigrateAction::Status => {}
                MigrateAction::Up => store.migrate_up().await?,
                MigrateAction::Down { steps } => store.migrate_down(steps).await?,
            }
            let mut out = String::new();
            for migration in store.migration_status().await? {
                let state = if migration.applied {
                    "applied"
                } else {
                    "pending"
                };
                out.push_str(&format!("{state:8} {}\n", migration.name));
            }
            write_stdout(&out)?;
            store.close().await;
        }
        Command::Openapi => {
            // The spec does not depend on data: an in-memory database (with a key that dies
            // with it) satisfies the routers and writes nothing.
            let config = Config {
                database_url: "sqlite::memory:".into(),
                master_key: None,
                ..config
            };
            let trae = Trae::open(config).await?;
            write_stdout(&App::new(&trae).await?.spec())?;
            write_stdout("\n")?;
        }
        Command::Bench {
            what:
                BenchWhat::Queue {
                    tasks,
                    workers,
                    concurrency,
                    batch,
                    latency_samples,
                    database,
                },
        } => {
            let options = QueueBenchOptions {
                tasks,
                batch,
                workers,
                concurrency,
                latency_samples,
                ..QueueBenchOptions::default()
            };
            cli::bench::bench_queue(database, &options).await?;
        }
        Command::User {
            action:
                UserAction::Create {
                    username,
                    email,
                    roles,
                    full_name,
                },
        } => {
            let password = read_password()?;
            let trae = Trae::open(config)
                .await
                .context("cannot open the database")?;
            let user = trae
                .identity()
                .users
                .create(
                    &Principal::System,
                    Registration {
                        username,
                        email,
                        password,
                        full_name,
                    },
                    roles,
                    &RequestMeta::default(),
                )
                .await?;
            write_stdout(&format!(
                "created user {} ({}) with roles {}\n",
                user.username,
                user.id,
                user.roles.join(", ")
            ))?;
            trae.close().await;
        }
        Command::Secrets { action } => {
            // Read before opening anything, so a refused value leaves no trace.
            let value = match &action {
                SecretsAction::Set { .. } => Some(cli::secrets::read_secret_value()?),
                _ => None,
            };
            let trae = Trae::open(config)
                .await
                .context("cannot open the database")?;
            let result = match trae.vault().await {
                Ok(vault) => cli::secrets::secrets(vault, trae.config(), action, value).await,
                Err(e) => Err(anyhow::Error::new(e).context("cannot open the secrets vault")),
            };
            trae.close().await;
            result?;
        }
        Command::Backup { action } => cli::backup::backup(&config, action).await?,
        Command::Auth { action } => cli::auth::auth(&config, action).await?,
        Command::Events {
            action:
                EventsAction::Tail {
                    topics,
                    since,
                    epoch,
                    json,
                },
        } => {
            cli::events::tail(
                &config,
                cli::events::Tail {
                    topics,
                    since,
                    epoch,
                    json,
                },
            )
            .await?;
        }
        Command::Llm {
            action:
                LlmAction::Chat {
                    prompt,
                    system,
                    model,
                    max_tokens,
                    temperature,
                    schema,
                    persona,
                    json,
                },
        } => {
            cli::llm::chat(
                &config,
                cli::llm::Chat {
                    prompt,
                    system,
                    model,
                    max_tokens,
                    temperature,
                    schema,
                    persona,
                    json,
                },
            )
            .await?;
        }
        Command::Llm {
            action: LlmAction::Models { json },
        } => cli::llm::models(&config, json).await?,
        Command::Tdd {
            action:
                TddAction::Run {
                    path,
                    test,
                    max_iterations,
                    model,
                    max_tokens,
                    max_cost,
                    apply,
                },
        } => {
            cli::tdd::run(
                &config,
                cli::tdd::Run {
                    path,
                    test,
                    max_iterations,
                    model,
                    max_tokens,
                    max_cost,
                    apply,
                },
            )
            .await?;
        }
        Command::Tdd {
            action:
                TddAction::Gen {
                    path,
                    target,
                    test,
                    model,
                    rounds,
                    max_tokens,
                    max_cost,
                    apply,
                },
        } => {
            cli::tdd_gen::generate(
                &config,
                cli::tdd_gen::Gen {
                    path,
                    target,
                    test,
                    model,
                    rounds,
                    max_tokens,
                    max_cost,
                    apply,
                },
            )
            .await?;
        }
        Command::Solo {
            action:
                SoloAction::Interview {
                    project_type,
                    idea,
                    resume,
                },
        } => {
            cli::solo::interview(
                &config,
                cli::solo::Ask {
                    project_type,
                    idea,
                    resume,
                },
            )
            .await?;
        }
        Command::Tdd {
            action: TddAction::Replay { run },
        } => cli::tdd::replay(&config, run).await?,
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("TRAE_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "no password: set TRAE_PASSWORD or pipe it on stdin"
    );
    Ok(password)
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
