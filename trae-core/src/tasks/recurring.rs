//! Recurring schedules: a named cron pattern and the task each tick enqueues.
//!
//! Every worker may carry the same schedules. Each tick is recorded as `(schedule, tick)` in
//! the database together with its task, and that record never expires, so a tick is enqueued
//! exactly once however many workers see it, and never again after its task has finished.
//! A worker enqueues the ticks that fall while it runs (it checks every heartbeat); ticks that
//! fell while no worker ran are skipped, not caught up.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::tasks::task::{NewTask, TaskRecord};
use crate::{Error, Result};

/// A named cron schedule and the task it enqueues.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Unique name; ticks are recorded under it.
    pub name: String,
    cron: Cron,
    pattern: String,
    /// The task each tick enqueues (its `run_at` is the tick).
    pub task: NewTask,
}

impl Schedule {
    /// A schedule from a cron pattern: five fields (minute granularity), six with seconds
    /// first, or an alias such as `@hourly`; times are UTC.
    pub fn new(name: &str, pattern: &str, task: NewTask) -> Result<Self> {
        let name = crate::tasks::task::validate_kind(name).map_err(|_| {
            Error::validation(
                "schedule",
                "names are 1 to 128 characters of a-z, 0-9, '_', '.' and '-'",
            )
        })?;
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(pattern)
            .map_err(|e| Error::validation("cron", format!("{pattern:?}: {e}")))?;
        // The task must be valid now, not at its first tick.
        task.clone().validate(Utc::now(), "system")?;
        Ok(Self {
            name,
            cron,
            pattern: pattern.to_owned(),
            task,
        })
    }

    /// The cron pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The latest tick in `(since, now]`, if any (`since` absent: only a tick at `now`).
    pub fn latest_tick(
        &self,
        now: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let tick = self.cron.find_previous_occurrence(&now, true).ok()?;
        let since = since.unwrap_or(now - chrono::Duration::milliseconds(1));
        (tick > since).then_some(tick)
    }

    /// The first tick after `after`.
    pub fn next_tick(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// The task record for `tick`.
    pub fn record(&self, now: DateTime<Utc>, tick: DateTime<Utc>) -> Result<TaskRecord> {
        let mut task = self.task.clone();
        task.run_at = Some(tick);
        let mut record = task.validate(now, &format!("schedule:{}", self.name))?;
        record.state = crate::tasks::task::TaskState::Available;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn every_minute() -> Schedule {
        Schedule::new(
            "cleanup",
            "* * * * *",
            NewTask::new("noop", serde_json::json!({})),
        )
        .unwrap()
    }

    #[test]
    fn the_latest_tick_since_the_last_look() {
        let s = every_minute();
        let now = at("2026-11-26T10:05:30Z");
        assert_eq!(
            s.latest_tick(now, Some(at("2026-11-26T10:04:59Z"))),
            Some(at("2026-11-26T10:05:00Z"))
        );
        assert_eq!(
            s.latest_tick(now, Some(at("2026-11-26T10:05:00Z"))),
            None,
            "already seen"
        );
        assert_eq!(s.next_tick(now), Some(at("2026-11-26T10:06:00Z")));
    }

    #[test]
    fn seconds_and_aliases_parse_and_garbage_does_not() {
        let task = NewTask::new("noop", serde_json::json!({}));
        assert!(Schedule::new("a", "*/10 * * * * *", task.clone()).is_ok());
        assert!(Schedule::new("b", "@hourly", task.clone()).is_ok());
        let err = Schedule::new("c", "every tuesday", task.clone()).unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "cron"),
            "{err}"
        );
        let err = Schedule::new("Bad Name", "@hourly", task).unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "schedule"));
    }

    #[test]
    fn a_tick_runs_at_its_time_whoever_enqueues_it() {
        let s = every_minute();
        let record = s
            .record(at("2026-11-26T10:05:01Z"), at("2026-11-26T10:05:00Z"))
            .unwrap();
        assert_eq!(record.run_at, at("2026-11-26T10:05:00Z"));
        assert_eq!(record.created_by, "schedule:cleanup");
        assert_eq!(record.state, crate::tasks::task::TaskState::Available);
    }
}
