//! What the agents' integration tests share: the Python that runs pytest, and copying a
//! fixture project.

use std::path::Path;

/// A Python with pytest: `TRAE_TEST_PYTHON`, else the CI virtualenv. `None` (and the test
/// says SKIPPED) where there is none.
pub(crate) fn python() -> Option<String> {
    let candidates = [
        std::env::var("TRAE_TEST_PYTHON").ok(),
        std::env::var("HOME")
            .ok()
            .map(|h| format!("{h}/.cache/trae-venv/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import pytest"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        eprintln!("SKIPPED: no Python with pytest (set TRAE_TEST_PYTHON)");
    }
    found
}

/// Copies the directory `from` to `to`, recursively.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
