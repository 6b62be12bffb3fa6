//! Scheduled backups in `trae serve`: every `TRAE_BACKUP_INTERVAL_HOURS` (off at 0) the
//! backup service takes a scheduled backup and prunes the old ones
//! ([`Backups::run_scheduled`]), until shutdown.
//!
//! The first one is due one interval after the newest scheduled backup in the directory, so
//! restarts keep the cadence instead of restarting it. A shutdown interrupts a running
//! backup; its partial file is removed.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use trae_storage::backup::Error;
use trae_storage::{Backups, ScheduledRun};

/// Runs scheduled backups with `backups` until `stop` is cancelled; returns at once when
/// they are off.
pub async fn run(backups: Backups, stop: CancellationToken) {
    let hours = backups.config().interval_hours;
    let interval = chrono::Duration::hours(i64::from(hours));
    let mut due = match backups.next_scheduled_at(Utc::now()) {
        Ok(Some(due)) => due,
        Ok(None) => {
            tracing::info!("scheduled backups are off (TRAE_BACKUP_INTERVAL_HOURS=0)");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the backup directory; the first scheduled backup is one interval away");
            Utc::now() + interval
        }
    };
    tracing::info!(
        every_hours = hours,
        keep = backups.config().keep,
        next = %due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "scheduled backups on"
    );
    let mut outcomes = Outcomes::default();
    loop {
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        tokio::select! {
            () = stop.cancelled() => {
                tracing::info!("shutdown interrupted a scheduled backup; it was discarded");
                return;
            }
            result = backups.run_scheduled() => {
                outcomes.log(&result);
            }
        }
        // After a failure too: retrying at once would fail again (no pg_dump, a full disk).
        due = Utc::now() + interval;
    }
}

/// Logs what each scheduled run did; a missing pg_dump is warned about once, not every run.
#[derive(Debug, Default)]
struct Outcomes {
    warned_pg_dump: bool,
}

impl Outcomes {
    /// Logs `result`; returns whether it was logged as a warning or an error.
    fn log(&mut self, result: &Result<ScheduledRun, Error>) -> bool {
        match result {
            Ok(run) => {
                self.warned_pg_dump = false;
                tracing::info!(
                    backup = %run.created.file_name,
                    size = run.created.manifest.size,
                    deleted = run.pruned.len(),
                    "scheduled backup taken"
                );
                false
            }
            Err(Error::PgDumpMissing) if self.warned_pg_dump => {
                tracing::debug!("scheduled backup skipped: pg_dump is still missing");
                false
            }
            Err(e @ Error::PgDumpMissing) => {
                self.warned_pg_dump = true;
                tracing::warn!(
                    error = %e,
                    "scheduled backups of this PostgreSQL database cannot run until pg_dump is \
                     installed; this is logged once (set TRAE_BACKUP_INTERVAL_HOURS=0 to turn \
                     them off)"
                );
                true
            }
            Err(Error::Busy) => {
                tracing::info!("scheduled backup skipped: another backup is running");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "scheduled backup failed");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_pg_dump_is_warned_about_once_until_a_backup_succeeds() {
        let mut outcomes = Outcomes::default();
        assert!(outcomes.log(&Err(Error::PgDumpMissing)));
        assert!(!outcomes.log(&Err(Error::PgDumpMissing)));
        assert!(!outcomes.log(&Err(Error::PgDumpMissing)));
        assert!(!outcomes.log(&Err(Error::Busy)));
        assert!(outcomes.log(&Err(Error::Database("down".into()))));
        let taken = trae_storage::BackupInfo {
            file_name: "trae-scheduled-x.dump".into(),
            path: "trae-scheduled-x.dump".into(),
            kind: trae_storage::BackupKind::Scheduled,
            manifest: trae_storage::backup::Manifest {
                trae_version: "0".into(),
                schema_version: "m".into(),
                created_at: Utc::now(),
                size: 1,
                sha256: String::new(),
                format: "pg_dump".into(),
            },
        };
        assert!(!outcomes.log(&Ok(ScheduledRun {
            created: taken,
            pruned: Vec::new(),
        })));
        // pg_dump went missing again: worth one more warning.
        assert!(outcomes.log(&Err(Error::PgDumpMissing)));
    }
}
