//! The directory a SQLite database lives in. A missing data directory is usually a typo or a
//! volume that is not mounted, and creating it silently would start an empty system (a new
//! admin, master key and signing key) in the wrong place: so it is made only when its parent
//! exists, and said loudly when it is.

use std::path::Path;

use crate::{Error, Result};

/// Makes sure `dir` exists: creates it (one level, never its parents) when its parent exists,
/// and refuses when the parent is missing too. True when it was created now.
pub fn prepare(dir: &Path) -> Result<bool> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(false);
    }
    if dir.exists() {
        return Err(Error::MissingDirectory(format!(
            "{} exists but is not a directory",
            dir.display()
        )));
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent
        && !parent.is_dir()
    {
        return Err(Error::MissingDirectory(format!(
            "the data directory {} does not exist, nor does its parent {}: check \
             TRAE_DATA_DIR (or the database URL) and that the volume is mounted; trae creates \
             the data directory only inside an existing one",
            dir.display(),
            parent.display()
        )));
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {
            tracing::warn!(
                path = %dir.display(),
                "created a NEW, EMPTY data directory: a new database, admin, master key and \
                 signing key will be made here; if you expected existing data, stop trae and \
                 check TRAE_DATA_DIR and your mounts"
            );
            Ok(true)
        }
        // Another process starting at the same time made it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(Error::MissingDirectory(format!(
            "cannot create the data directory {}: {e}",
            dir.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_made_only_inside_an_existing_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        assert!(prepare(&dir).unwrap(), "created");
        assert!(dir.is_dir());
        assert!(!prepare(&dir).unwrap(), "already there");

        let deep = tmp.path().join("typo").join("data");
        let err = prepare(&deep).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(err.contains("TRAE_DATA_DIR"), "{err}");
        assert!(!tmp.path().join("typo").exists(), "nothing half-made");

        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(
            prepare(&file)
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
    }
}
