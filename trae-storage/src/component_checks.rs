//! The built-in components every trae process over a [`Store`] can watch, and how each is
//! checked:
//!
//! | component | required | fails when |
//! |---|---|---|
//! | `database` | yes | a ping is not answered, a write probe fails, or a full-disk, I/O or corruption fault was reported since the last check (critical at once: nothing works without it); a file found damaged while running refuses writes |
//! | `task_queue` | yes | its statistics cannot be read |
//! | `workers` | no | a due task of an unpaused queue has waited more than [`WORKER_STALL`] for a worker |
//! | `disk` | no | the data directory's disk is under 5 % free (critical under 1 %) |
//!
//! [`HealthMonitor`] ties them to a [`ComponentHealth`] kept in the database, so `trae serve`
//! and the Python module report the same components the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sysinfo::Disks;
use trae_core::identity::permission::{Authorizer, Gate};
use trae_core::{
    AuditLog, CheckOutcome, ComponentHealth, ComponentReport, Error, HealthCheck, HealthRules,
    METRICS_READ, Principal, Result, TaskQueue, TransitionRecord,
};

use crate::Store;
use crate::database_fault::FaultTally;

/// How often `trae serve` checks every built-in component.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// How long a due task may wait for a worker before the `workers` component fails.
pub const WORKER_STALL: Duration = Duration::from_secs(300);

/// The database answers a ping and takes a write; no full-disk, I/O or corruption fault was
/// reported since the last check; a file found damaged while running refuses writes.
#[derive(Debug)]
pub struct DatabaseCheck {
    store: Store,
    /// The fault tally at the previous check.
    seen: std::sync::Mutex<FaultTally>,
}

impl DatabaseCheck {
    /// A check of `store`, counting faults from now on.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            seen: std::sync::Mutex::new(FaultTally::now()),
        }
    }
}

#[async_trait]
impl HealthCheck for DatabaseCheck {
    async fn check(&self) -> CheckOutcome {
        let critical = |error: String| CheckOutcome::Failed {
            error,
            critical: true,
        };
        if let Some(reason) = self.store.writes_refused() {
            return critical(format!("writes are refused: {reason}"));
        }
        if let Err(e) = self.store.ping().await {
            tracing::warn!(error = %e, "database health check failed");
            return critical("the database does not answer".into());
        }
        let now = FaultTally::now();
        let new = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *seen, now.clone())
        };
        let new = now.since(&new);
        // Corruption reported while running: confirm on this store's file, then stop writing
        // into it, so the damage does not spread and the last good backup stays the fix.
        if new.corrupt > 0
            && let Err(e @ crate::Error::Damaged(_)) = self.store.check_integrity().await
        {
            let reason = e.to_string();
            self.store.refuse_writes(&reason).await;
            return critical(format!("writes are refused: {reason}"));
        }
        if let Err(e) = self.store.probe_write().await {
            tracing::warn!(error = %e, "database write probe failed");
            return critical(format!("the database does not take writes: {e}"));
        }
        let faults = new.total();
        if faults > 0 {
            let (kind, message) = new
                .last
                .map(|(k, m)| (k.describe(), m))
                .unwrap_or(("a database fault", String::new()));
            return critical(format!(
                "{faults} writes or reads failed since the last check ({kind}: {message})"
            ));
        }
        CheckOutcome::Ok
    }
}

/// The task queue answers its statistics query.
#[derive(Debug, Clone)]
pub struct TaskQueueCheck(pub TaskQueue);

#[async_trait]
impl HealthCheck for TaskQueueCheck {
    async fn check(&self) -> CheckOutcome {
        match self.0.stats(&trae_core::Principal::System).await {
            Ok(_) => CheckOutcome::Ok,
            Err(e) => {
                tracing::warn!(error = %e, "task queue health check failed");
                CheckOutcome::Failed {
                    error: "the task queue cannot be read".into(),
                    critical: false,
                }
            }
        }
    }
}

/// Workers keep up: no due task of an unpaused queue has waited longer than `stall`.
#[derive(Debug, Clone)]
pub struct WorkersCheck {
    /// The queue watched.
    pub tasks: TaskQueue,
    /// The longest wait that still passes.
    pub stall: Duration,
}

#[async_trait]
impl HealthCheck for WorkersCheck {
    async fn check(&self) -> CheckOutcome {
        let stats = match self.tasks.stats(&trae_core::Principal::System).await {
            Ok(stats) => stats,
            Err(e) => {
                tracing::warn!(error = %e, "workers health check could not read the queue");
                return CheckOutcome::Failed {
                    error: "the task queue cannot be read".into(),
                    critical: false,
                };
            }
        };
        let stalled = stats
            .queues
            .iter()
            .filter(|q| !q.paused)
            .filter_map(|q| Some((q.queue.as_str(), q.oldest_available_age_secs?)))
            .filter(|(_, age)| *age > self.stall.as_secs_f64())
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match stalled {
            Some((queue, age)) => CheckOutcome::Failed {
                error: format!("a task in queue {queue:?} has waited {age:.0} s for a worker"),
                critical: false,
            },
            None => CheckOutcome::Ok,
        }
    }
}

/// The disk holding the data directory has room.
#[derive(Debug, Clone)]
pub struct DiskCheck(pub PathBuf);

#[async_trait]
impl HealthCheck for DiskCheck {
    async fn check(&self) -> CheckOutcome {
        let dir = self.0.clone();
        let space = tokio::task::spawn_blocking(move || disk_space(&dir))
            .await
            .ok()
            .flatten();
        let free = space.and_then(|(free, total)| (total > 0).then(|| free as f64 / total as f64));
        match free {
            // The path is not reported: no host paths leak through health output.
            None => CheckOutcome::Failed {
                error: "the data directory's disk cannot be measured".into(),
                critical: false,
            },
            Some(share) if share < 0.05 => CheckOutcome::Failed {
                error: format!("the data directory's disk is {:.1} % free", share * 100.0),
                critical: share < 0.01,
            },
            Some(_) => CheckOutcome::Ok,
        }
    }
}

/// `(free, total)` bytes of the disk holding `dir` (the mount point with the longest matching
/// prefix), or `None` when it cannot be found.
pub fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let disks = Disks::new_with_refreshed_list().ok()?;
    let disk = disks
        .iter()
        .filter(|d| dir.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())?;
    Some((disk.available_space(), disk.total_space()))
}

/// A watched component.
#[derive(Clone)]
pub struct Component {
    /// Its name.
    pub name: &'static str,
    /// Whether readiness fails while it is failing or critical.
    pub required: bool,
    /// How it is checked.
    pub check: Arc<dyn HealthCheck>,
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Component")
            .field("name", &self.name)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

/// The built-in components over `store`, with the data directory `data_dir`.
pub fn builtin_components(store: &Store, data_dir: PathBuf) -> Vec<Component> {
    vec![
        Component {
            name: "database",
            required: true,
            check: Arc::new(DatabaseCheck::new(store.clone())),
        },
        Component {
            name: "task_queue",
            required: true,
            check: Arc::new(TaskQueueCheck(store.tasks())),
        },
        Component {
            name: "workers",
            required: false,
            check: Arc::new(WorkersCheck {
                tasks: store.tasks(),
                stall: WORKER_STALL,
            }),
        },
        Component {
            name: "disk",
            required: false,
            check: Arc::new(DiskCheck(data_dir)),
        },
    ]
}

/// The data directory whose disk a store over `database_url` watches: a SQLite file's
/// directory, else `configured` (the trae data directory).
pub fn data_dir_of(database_url: &str, configured: &Path) -> PathBuf {
    crate::backup::sqlite_path(database_url)
        .ok()
        .and_then(|file| file.parent().map(Path::to_path_buf))
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| configured.to_path_buf())
}

/// Component health over a store: the built-in components, their transitions kept in the
/// database (so uptime and recovery figures survive restarts) and audited. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HealthMonitor {
    health: ComponentHealth,
    components: Arc<Vec<Component>>,
    gate: Gate,
}

impl HealthMonitor {
    /// Restores the stored history, registers the built-in components and checks each once,
    /// so their status is known from the start.
    pub async fn open(
        store: &Store,
        rules: HealthRules,
        data_dir: PathBuf,
        audit: Option<AuditLog>,
    ) -> Result<Self> {
        let mut health = ComponentHealth::new(rules, store.clock(), store.events())
            .with_history(store.health_history());
        if let Some(audit) = audit {
            health = health.with_audit(audit);
        }
        health.restore().await?;
        let components = Arc::new(builtin_components(store, data_dir));
        for c in components.iter() {
            health.register(c.name, c.required);
        }
        let monitor = Self {
            health,
            components,
            gate: Gate::default(),
        };
        monitor.check_all().await;
        Ok(monitor)
    }

    /// This monitor, asking `authorizer` whether a principal holds `metrics:read` to see the
    /// components (without one, only the system may).
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// The tracker, for other reporters (the orchestrator's `api:<name>` components).
    pub fn health(&self) -> &ComponentHealth {
        &self.health
    }

    /// Checks every built-in component now; a failure to record one is logged.
    pub async fn check_all(&self) {
        for c in self.components.iter() {
            if let Err(e) = self.health.run_check(c.name, c.check.as_ref()).await {
                tracing::warn!(component = c.name, error = %e, "recording a health check failed");
            }
        }
    }

    /// Checks the built-in component `name` now and returns its report, for a `principal`
    /// holding `metrics:read`; `NotFound` for a name that is not built in (external APIs are
    /// checked by the orchestrator).
    pub async fn check(&self, principal: &Principal, name: &str) -> Result<ComponentReport> {
        self.gate.check(principal, METRICS_READ).await?;
        let component = self
            .components
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| Error::not_found("built-in component", name))?;
        self.health
            .run_check(component.name, component.check.as_ref())
            .await
    }

    /// Every component's report, by name, for a `principal` holding `metrics:read` (the
    /// overall status is open to all through [`Self::health`]).
    pub async fn reports(&self, principal: &Principal) -> Result<Vec<ComponentReport>> {
        self.gate.check(principal, METRICS_READ).await?;
        Ok(self.health.reports())
    }

    /// One component's report and its transitions over the last 7 days, newest first, for a
    /// `principal` holding `metrics:read`; `NotFound` when no such component is known.
    pub async fn component(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<(ComponentReport, Vec<TransitionRecord>)> {
        self.gate.check(principal, METRICS_READ).await?;
        let report = self
            .health
            .report(name)
            .ok_or_else(|| Error::not_found("component", name))?;
        Ok((report, self.health.history(name).await?))
    }

    /// Checks every built-in component every `interval` until `stop` resolves.
    pub async fn run(&self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => self.check_all().await,
            }
        }
    }
}
