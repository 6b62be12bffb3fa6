//! The topics of the event stream, each read under its own permission.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What events are about; each topic is read under its own permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Task transitions; a user sees their own tasks' events, `tasks:read_all` everyone's.
    Tasks,
    /// Component health transitions.
    Health,
    /// Alerts firing and resolving.
    Alerts,
    /// The external API registry.
    Apis,
    /// The audit log.
    Audit,
    /// Channels, personas, evidence and contradictions.
    Content,
    /// Backups taken and restored.
    Backups,
    /// The example pets API.
    Pets,
    /// Progress of `trae bench` runs.
    Bench,
    /// The database schema: migrations applied.
    System,
    /// TDD agent runs, step by step; a user sees their own runs' events, `agents:admin`
    /// everyone's.
    Tdd,
    /// SOLO agent interviews and runs; a user sees their own, `agents:admin` everyone's.
    Solo,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Self; 12] = [
        Self::Tasks,
        Self::Health,
        Self::Alerts,
        Self::Apis,
        Self::Audit,
        Self::Content,
        Self::Backups,
        Self::Pets,
        Self::Bench,
        Self::System,
        Self::Tdd,
        Self::Solo,
    ];

    /// The topic's name, as stored and as clients name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tasks => "tasks",
            Self::Health => "health",
            Self::Alerts => "alerts",
            Self::Apis => "apis",
            Self::Audit => "audit",
            Self::Content => "content",
            Self::Backups => "backups",
            Self::Pets => "pets",
            Self::Bench => "bench",
            Self::System => "system",
            Self::Tdd => "tdd",
            Self::Solo => "solo",
        }
    }

    /// The topic named `name`, if there is one.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The topic named `name`, or a validation error listing the topics.
    pub fn parse(name: &str) -> Result<Self> {
        Self::named(name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
            Error::validation(
                "topics",
                format!("unknown topic {name:?}; topics are {}", names.join(", ")),
            )
        })
    }

    /// The topics a client names, comma-separated (`None` or blank: every topic it may read,
    /// given as an empty list).
    pub fn parse_list(names: Option<&str>) -> Result<Vec<Self>> {
        let names: Vec<&str> = names.unwrap_or_default().split(',').collect();
        Self::parse_names(&names)
    }

    /// The topics named, without repeats; blank names are skipped.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<Vec<Self>> {
        let mut topics = Vec::new();
        for name in names {
            let name = name.as_ref().trim();
            if name.is_empty() {
                continue;
            }
            let topic = Self::parse(name)?;
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        Ok(topics)
    }

    /// The permission that reads the topic (for tasks: a user's own tasks' events).
    pub fn permission(self) -> &'static str {
        match self {
            Self::Tasks => crate::tasks::task_queue::TASKS_READ,
            Self::Health | Self::Alerts => crate::monitoring::alert::METRICS_READ,
            Self::Apis => crate::apis::api_registry::APIS_READ,
            Self::Audit => crate::identity::permission::AUDIT_READ,
            Self::Content => crate::content::CONTENT_READ,
            Self::Backups => crate::identity::permission::BACKUPS_ADMIN,
            Self::Pets => crate::pet::PETS_READ,
            Self::Bench => crate::tasks::task_queue::TASKS_ADMIN,
            Self::System => crate::monitoring::alert::METRICS_READ,
            Self::Tdd | Self::Solo => crate::tdd::run::AGENTS_RUN,
        }
    }
}
