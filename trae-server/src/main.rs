//! The `trae` command: serve the API, move the schema, print the spec.

use anyhow::Context;
use clap::{Parser, Subcommand};
use trae_agents::Trae;
use trae_auth::{Registration, RequestMeta};
use trae_core::queue_bench::{BenchPhase, QueueBenchOptions};
use trae_core::{Config, Principal};
use trae_server::{App, logging, serve};
use trae_storage::{Store, StoreOptions};

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
            bench_queue(database, &options).await?;
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
                SecretsAction::Set { .. } => Some(read_secret_value()?),
                _ => None,
            };
            let trae = Trae::open(config)
                .await
                .context("cannot open the database")?;
            let result = match trae.vault().await {
                Ok(vault) => secrets(vault, trae.config(), action, value).await,
                Err(e) => Err(anyhow::Error::new(e).context("cannot open the secrets vault")),
            };
            trae.close().await;
            result?;
        }
        Command::Backup { action } => backup(&config, action).await?,
    }
    Ok(())
}

/// Runs one `trae backup` action on the configured database.
async fn backup(config: &Config, action: BackupAction) -> anyhow::Result<()> {
    use trae_storage::{BackupKind, backup};
    match action {
        BackupAction::Create { out } => {
            let trae = Trae::open(config.clone())
                .await
                .context("cannot open the database")?;
            let backups = trae.backups().clone();
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "backup [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
                )
                .context("progress bar template")?
                .progress_chars("=> "),
            );
            let progress = |copied, total| {
                bar.set_length(total);
                bar.set_position(copied);
            };
            let (system, meta) = (Principal::System, RequestMeta::default());
            let taken = match &out {
                Some(out) => backups.create_at(&system, out, &meta, progress).await,
                None => {
                    backups
                        .create(&system, BackupKind::Manual, &meta, progress)
                        .await
                }
            };
            bar.finish_and_clear();
            trae.close().await;
            let taken = taken.context("backup failed")?;
            let manifest = &taken.manifest;
            write_stdout(&format!(
                "backup     {}\nmanifest   {}\nsize       {} bytes\nsha256     {}\nschema     {}\n",
                taken.path.display(),
                backup::manifest_path(&taken.path).display(),
                manifest.size,
                manifest.sha256,
                manifest.schema_version,
            ))?;
        }
        BackupAction::List => {
            let trae = Trae::open(config.clone())
                .await
                .context("cannot open the database")?;
            let backups = trae.backups().clone();
            let list = backups.list(&Principal::System).await;
            trae.close().await;
            let list = list.with_context(|| format!("cannot list {}", backups.dir().display()))?;
            let plural = if list.len() == 1 { "" } else { "s" };
            let mut text = format!(
                "{} backup{plural} in {}\n",
                list.len(),
                backups.dir().display()
            );
            for b in &list {
                let m = &b.manifest;
                text.push_str(&format!(
                    "{}  {:<9}  {:>12} bytes  {}  {}\n",
                    b.file_name,
                    b.kind.as_str(),
                    m.size,
                    m.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    m.schema_version,
                ));
            }
            write_stdout(&text)?;
        }
        BackupAction::Verify { path } => {
            let manifest = backup::verify(&path)
                .await
                .with_context(|| format!("{} failed verification", path.display()))?;
            write_stdout(&format!(
                "ok         {} ({} bytes, schema {}, taken {} by trae {})\n",
                path.display(),
                manifest.size,
                manifest.schema_version,
                manifest.created_at.to_rfc3339(),
                manifest.trae_version,
            ))?;
        }
        BackupAction::Restore { path } => {
            let report = backup::restore(&path, &config.database_url)
                .await
                .context("restore refused")?;
            let mut text = format!(
                "restored   {} into {}\n",
                path.display(),
                report.database.display()
            );
            if let Some(previous) = report.previous {
                text.push_str(&format!("previous   {}\n", previous.display()));
            }
            write_stdout(&text)?;
        }
    }
    Ok(())
}

/// Runs one `trae secrets` action as the system principal.
async fn secrets(
    vault: &trae_auth::Vault,
    config: &Config,
    action: SecretsAction,
    value: Option<trae_auth::SecretValue>,
) -> anyhow::Result<()> {
    let system = Principal::System;
    let meta = RequestMeta::default();
    match action {
        SecretsAction::Set {
            name,
            description,
            tags,
        } => {
            let value = value.context("no value was read")?;
            let input = trae_auth::SetSecret {
                value,
                description,
                tags: (!tags.is_empty()).then_some(tags),
            };
            let secret = vault.set(&system, &name, input, &meta).await?;
            write_stdout(&format!(
                "set secret {} version {}\n",
                secret.name, secret.version
            ))?;
        }
        SecretsAction::Get { name, version } => {
            let revealed = vault.get(&system, &name, version, &meta).await?;
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(revealed.value.expose())?;
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        }
        SecretsAction::List { prefix, tag } => {
            let filter = trae_core::SecretFilter { prefix, tag };
            let mut secrets = Vec::new();
            loop {
                let offset = i64::try_from(secrets.len()).unwrap_or(i64::MAX);
                let page = trae_core::PageRequest::new(Some(500), Some(offset))?;
                let page = vault.list(&system, &filter, page).await?;
                let done = page.items.is_empty();
                secrets.extend(page.items);
                if done || secrets.len() as u64 >= page.total {
                    break;
                }
            }
            let rows = secrets.iter().map(|s| {
                [
                    s.name.clone(),
                    s.version.to_string(),
                    s.updated_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    s.description
                        .as_deref()
                        .unwrap_or("")
                        .replace(['\n', '\t'], " "),
                ]
            });
            write_stdout(&table(["NAME", "VERSION", "UPDATED", "DESCRIPTION"], rows))?;
        }
        SecretsAction::Versions { name } => {
            let versions = vault.versions(&system, &name).await?;
            let rows = versions.iter().map(|v| {
                [
                    v.version.to_string(),
                    v.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    v.created_by.clone(),
                ]
            });
            write_stdout(&table(["VERSION", "CREATED", "CREATED_BY"], rows))?;
        }
        SecretsAction::Delete { name } => {
            let removed = vault.delete(&system, &name, &meta).await?;
            write_stdout(&format!("deleted secret {name} ({removed} versions)\n"))?;
        }
        SecretsAction::MasterKeys => {
            let keys = vault.master_keys().await?;
            let rows = keys.iter().map(|k| {
                [
                    k.id.clone(),
                    if k.current { "current" } else { "previous" }.to_owned(),
                    if k.loaded { "yes" } else { "no" }.to_owned(),
                    k.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ]
            });
            write_stdout(&table(["ID", "STATE", "LOADED", "INSTALLED"], rows))?;
        }
        SecretsAction::RotateMasterKey { key_file } => {
            let key = read_master_key(key_file.as_deref())?;
            let report = vault.rotate_master_key(&system, key, &meta).await?;
            let next_step = if config.master_key.is_some() {
                "set TRAE_MASTER_KEY to the new key on every node and restart them"
            } else {
                "the key file in the data directory now holds the new key; back it up"
            };
            let mut out = format!(
                "rotated the secrets master key from {} to {} ({} data keys re-wrapped)\n",
                report.from, report.to, report.rewrapped
            );
            for retired in &report.retired {
                out.push_str(&format!("retired the older master key {retired}\n"));
            }
            out.push_str(&format!(
                "next: {next_step}; then end the overlap with \
                 `trae secrets retire-master-key {}`\n",
                report.from
            ));
            write_stdout(&out)?;
        }
        SecretsAction::RetireMasterKey { id } => {
            let removed = vault.retire_master_key(&system, &id, &meta).await?;
            write_stdout(&format!(
                "retired master key {id} ({removed} data key wrappings removed)\n"
            ))?;
        }
    }
    Ok(())
}

/// Left-aligned columns, two spaces apart, the last one unpadded.
fn table<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let rows: Vec<[String; N]> = std::iter::once(header.map(str::to_owned))
        .chain(rows)
        .collect();
    let mut widths = [0usize; N];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// All of stdin, less one trailing newline (`\n` or `\r\n`); an empty value is refused.
fn read_secret_value() -> anyhow::Result<trae_auth::SecretValue> {
    use std::io::{IsTerminal, Read};
    let mut stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        eprintln!("Reading the value from stdin; end it with Ctrl-D.");
    }
    let mut bytes = Vec::new();
    stdin
        .read_to_end(&mut bytes)
        .context("cannot read the value from stdin")?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    anyhow::ensure!(
        !bytes.is_empty(),
        "no value on stdin: pipe it in, e.g. `printf %s \"$TOKEN\" | trae secrets set NAME`"
    );
    // Moved, not copied: `SecretValue` zeroes the bytes when dropped.
    Ok(trae_auth::SecretValue::new(bytes))
}

/// The new master key for `rotate-master-key`: base64 of 32 bytes from `path` or stdin.
fn read_master_key(path: Option<&std::path::Path>) -> anyhow::Result<trae_auth::MasterKey> {
    use std::io::{IsTerminal, Read};
    let mut text = String::new();
    match path {
        Some(path) => {
            let mut file = std::fs::File::open(path)
                .with_context(|| format!("cannot open the key file {}", path.display()))?;
            file.read_to_string(&mut text)
                .with_context(|| format!("cannot read the key file {}", path.display()))?;
        }
        None => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                eprintln!("Reading the new master key (base64) from stdin; end it with Ctrl-D.");
            }
            stdin
                .read_to_string(&mut text)
                .context("cannot read the new master key from stdin")?;
        }
    }
    anyhow::ensure!(
        !text.trim().is_empty(),
        "no new master key: pipe base64 of 32 random bytes on stdin (e.g. from \
         `head -c 32 /dev/urandom | base64`) or pass --key-file"
    );
    Ok(trae_auth::MasterKey::from_base64(&text)?)
}

/// The password for `user create`: TRAE_PASSWORD, else the first line of stdin.
async fn bench_queue(database: Option<String>, options: &QueueBenchOptions) -> anyhow::Result<()> {
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
    let report = trae_core::queue_bench::run(&store.tasks(), options, move |phase, done, total| {
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
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
