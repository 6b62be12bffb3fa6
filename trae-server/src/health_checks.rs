//! The components `trae serve` watches and how each is checked: the database (required; a
//! failed ping is critical), the task queue (required) and the data directory's disk
//! (optional; failing under 5 % free, critical under 1 %). Checks run every
//! [`CHECK_INTERVAL`] and, for the database, whenever `/api/health` is asked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use trae_core::{CheckOutcome, ComponentHealth, HealthCheck, TaskQueue};
use trae_storage::Store;

/// How often every component is checked.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// The database answers a ping.
#[derive(Debug, Clone)]
pub struct DatabaseCheck(pub Store);

#[async_trait]
impl HealthCheck for DatabaseCheck {
    async fn check(&self) -> CheckOutcome {
        match self.0.ping().await {
            Ok(()) => CheckOutcome::Ok,
            Err(e) => {
                tracing::warn!(error = %e, "database health check failed");
                // Nothing works without it.
                CheckOutcome::Failed {
                    error: "the database does not answer".into(),
                    critical: true,
                }
            }
        }
    }
}

/// The task queue answers its statistics query.
#[derive(Debug, Clone)]
pub struct TaskQueueCheck(pub TaskQueue);

#[async_trait]
impl HealthCheck for TaskQueueCheck {
    async fn check(&self) -> CheckOutcome {
        match self.0.stats().await {
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

/// The disk holding the data directory has room.
#[derive(Debug, Clone)]
pub struct DiskCheck(pub PathBuf);

#[async_trait]
impl HealthCheck for DiskCheck {
    async fn check(&self) -> CheckOutcome {
        let dir = self.0.clone();
        let free = tokio::task::spawn_blocking(move || free_share(&dir))
            .await
            .ok()
            .flatten();
        match free {
            // The path is not reported: no host paths leak through health output.
            None => CheckOutcome::Failed {
                error: "the data directory's disk cannot be measured".into(),
                critical: false,
            },
            Some(share) if share < 0.01 => CheckOutcome::Failed {
                error: format!("the data directory's disk is {:.1} % free", share * 100.0),
                critical: true,
            },
            Some(share) if share < 0.05 => CheckOutcome::Failed {
                error: format!("the data directory's disk is {:.1} % free", share * 100.0),
                critical: false,
            },
            Some(_) => CheckOutcome::Ok,
        }
    }
}

/// The free share (0–1) of the data directory's disk.
fn free_share(dir: &std::path::Path) -> Option<f64> {
    let (free, total) = crate::process_metrics::disk_of(dir)?;
    (total > 0).then(|| free as f64 / total as f64)
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
            check: Arc::new(DatabaseCheck(store.clone())),
        },
        Component {
            name: "task_queue",
            required: true,
            check: Arc::new(TaskQueueCheck(store.tasks())),
        },
        Component {
            name: "disk",
            required: false,
            check: Arc::new(DiskCheck(data_dir)),
        },
    ]
}

/// Checks every component once.
pub async fn check_all(health: &ComponentHealth, components: &[Component]) {
    for c in components {
        if let Err(e) = health.run_check(c.name, c.check.as_ref()).await {
            tracing::warn!(component = c.name, error = %e, "recording a health check failed");
        }
    }
}

/// Checks every component every [`CHECK_INTERVAL`] until `stop`.
pub async fn run(
    health: ComponentHealth,
    components: Arc<Vec<Component>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => check_all(&health, &components).await,
        }
    }
}
