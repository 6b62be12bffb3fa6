//! The process and its data directory as a [`MetricSource`] (through sysinfo).
//!
//! | metric | meaning |
//! |---|---|
//! | `trae_process_cpu_percent` | CPU used since the previous sample, percent of one core |
//! | `trae_process_memory_bytes` | resident memory |
//! | `trae_process_open_files` | open file descriptors |
//! | `trae_disk_free_bytes` | free space on the data directory's disk |
//! | `trae_disk_used_percent` | used share of the data directory's disk, 0–100 |

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use trae_core::monitoring::metric_series::{MetricSource, Sample};

/// Metric: CPU used since the previous sample, percent of one core.
pub const CPU_PERCENT: &str = "trae_process_cpu_percent";
/// Metric: resident memory in bytes.
pub const MEMORY_BYTES: &str = "trae_process_memory_bytes";
/// Metric: open file descriptors.
pub const OPEN_FILES: &str = "trae_process_open_files";
/// Metric: free bytes on the data directory's disk.
pub const DISK_FREE_BYTES: &str = "trae_disk_free_bytes";
/// Metric: used percent of the data directory's disk.
pub const DISK_USED_PERCENT: &str = "trae_disk_used_percent";

/// Samples this process and the disk holding `data_dir`.
#[derive(Clone)]
pub struct ProcessMetrics {
    data_dir: PathBuf,
    // Kept between samples: CPU use is measured from one refresh to the next.
    system: Arc<Mutex<Option<System>>>,
}

impl std::fmt::Debug for ProcessMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessMetrics").finish_non_exhaustive()
    }
}

impl ProcessMetrics {
    /// Samples the current process and `data_dir`'s disk.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            system: Arc::new(Mutex::new(None)),
        }
    }

    fn read(&self) -> Vec<Sample> {
        let mut out = Vec::with_capacity(5);
        let pid = Pid::from_u32(std::process::id());
        let mut guard = self.system.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = System::new().ok();
        }
        if let Some(system) = guard.as_mut() {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            if let Some(p) = system.process(pid) {
                out.push(Sample::new(CPU_PERCENT, f64::from(p.cpu_usage())));
                out.push(Sample::new(MEMORY_BYTES, p.memory() as f64));
                if let Some(n) = p.open_files() {
                    out.push(Sample::new(OPEN_FILES, n as f64));
                }
            }
        }
        drop(guard);
        if let Some((free, total)) = crate::component_checks::disk_space(&self.data_dir) {
            out.push(Sample::new(DISK_FREE_BYTES, free as f64));
            if total > 0 {
                out.push(Sample::new(
                    DISK_USED_PERCENT,
                    100.0 * (total.saturating_sub(free)) as f64 / total as f64,
                ));
            }
        }
        out
    }
}

#[async_trait]
impl MetricSource for ProcessMetrics {
    async fn collect(&self, out: &mut Vec<Sample>) {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || this.read()).await {
            Ok(samples) => out.extend(samples),
            Err(e) => tracing::warn!(error = %e, "process metrics could not be read"),
        }
    }
}
