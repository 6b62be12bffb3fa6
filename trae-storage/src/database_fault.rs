//! Faults of the database itself (a full disk, an I/O error, a damaged file), told apart from
//! ordinary query errors so that callers get a 503 that says what is wrong and the `database`
//! health component can turn critical while writes fail.
//!
//! The errors reach this module through the storage crate's two error mappers, which know no
//! store; so the tally is per process. A health check that sees the tally move confirms with
//! its own probe of its own store, so a process with several stores (tests, a Python script
//! holding two) at worst re-checks a healthy one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What kind of fault the database reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The disk (or the database's page limit) is full: `SQLITE_FULL`, or PostgreSQL's class
    /// 53 (insufficient resources).
    Full,
    /// The operating system failed a read or write: `SQLITE_IOERR`.
    Io,
    /// The file is damaged or not a database: `SQLITE_CORRUPT`, `SQLITE_NOTADB`, or
    /// PostgreSQL's `XX001`/`XX002`.
    Corrupt,
}

impl FaultKind {
    /// What a caller is told.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Full => "the database's disk is full",
            Self::Io => "the database's disk failed a read or write",
            Self::Corrupt => "the database file is damaged",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Full => 0,
            Self::Io => 1,
            Self::Corrupt => 2,
        }
    }
}

static COUNTS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static LAST: Mutex<Option<(FaultKind, String)>> = Mutex::new(None);

/// How many faults of each kind this process has seen, and the last one's message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultTally {
    /// Full-disk faults.
    pub full: u64,
    /// I/O faults.
    pub io: u64,
    /// Corruption faults.
    pub corrupt: u64,
    /// The most recent fault and the database's message.
    pub last: Option<(FaultKind, String)>,
}

impl FaultTally {
    /// The tally now.
    pub fn now() -> Self {
        Self {
            full: COUNTS[0].load(Ordering::Acquire),
            io: COUNTS[1].load(Ordering::Acquire),
            corrupt: COUNTS[2].load(Ordering::Acquire),
            last: LAST.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// The faults seen since `earlier` (counts only).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            full: self.full.saturating_sub(earlier.full),
            io: self.io.saturating_sub(earlier.io),
            corrupt: self.corrupt.saturating_sub(earlier.corrupt),
            last: self.last.clone(),
        }
    }

    /// Faults of every kind.
    pub fn total(&self) -> u64 {
        self.full + self.io + self.corrupt
    }
}

/// The kind of fault a database error code names, if it is one. SQLite codes are the
/// extended result codes sqlx reports (the primary code is the low byte).
pub fn classify(code: &str) -> Option<FaultKind> {
    // PostgreSQL's SQLSTATEs are five characters (some all digits); SQLite's extended codes
    // stay under 10,000.
    if code.len() != 5
        && let Ok(n) = code.parse::<i64>()
    {
        return match n & 0xff {
            13 => Some(FaultKind::Full),
            10 => Some(FaultKind::Io),
            11 | 26 => Some(FaultKind::Corrupt),
            _ => None,
        };
    }
    match code {
        "XX001" | "XX002" => Some(FaultKind::Corrupt),
        c if c.starts_with("53") => Some(FaultKind::Full),
        c if c.starts_with("58") => Some(FaultKind::Io),
        _ => None,
    }
}

/// Counts `err` when it is a database fault, and returns the error a caller gets for it.
pub(crate) fn observe(err: &sqlx::Error) -> Option<trae_core::Error> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    let kind = classify(db.code()?.as_ref())?;
    COUNTS[kind.index()].fetch_add(1, Ordering::AcqRel);
    *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some((kind, db.message().to_owned()));
    tracing::error!(fault = ?kind, error = %db.message(), "database fault");
    Some(trae_core::Error::Unavailable(format!(
        "{}: {}",
        kind.describe(),
        db.message()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_postgres_codes_are_classified() {
        assert_eq!(classify("13"), Some(FaultKind::Full));
        assert_eq!(classify("266"), Some(FaultKind::Io), "SQLITE_IOERR_READ");
        assert_eq!(classify("11"), Some(FaultKind::Corrupt));
        assert_eq!(classify("26"), Some(FaultKind::Corrupt), "SQLITE_NOTADB");
        assert_eq!(classify("2067"), None, "SQLITE_CONSTRAINT_UNIQUE");
        assert_eq!(classify("5"), None, "SQLITE_BUSY is not a fault");
        assert_eq!(classify("53100"), Some(FaultKind::Full), "disk_full");
        assert_eq!(classify("XX001"), Some(FaultKind::Corrupt));
        assert_eq!(classify("23505"), None);
    }
}
