//! A working copy of a user's project: edits and test runs happen there, and reach the
//! project only when the user accepts them, and only if the project did not change meanwhile.
//!
//! In a git repository it is a detached worktree of `HEAD` with the uncommitted changes
//! (modified, deleted and untracked files, ignored ones excepted) carried over, so it starts
//! as the user's files are; elsewhere it is a copy without build output (`target`,
//! `node_modules`, caches). Every read and write goes through [`WorkingCopy::read`] and
//! [`WorkingCopy::write`], which refuse paths that leave it, symbolic links included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::error::{AgentError, Result};
use crate::tdd::edits::project_path;

/// Directories never copied into a working copy (build output and caches).
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "target",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".venv",
    "venv",
];

/// One file's change, as a unified diff.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileDiff {
    /// The file, relative to the project.
    pub path: String,
    /// The unified diff (`--- a/path`, `+++ b/path`, hunks); a created file diffs against
    /// nothing.
    pub diff: String,
}

/// A working copy; removed (worktree unregistered) when dropped.
#[derive(Debug)]
pub struct WorkingCopy {
    project: PathBuf,
    root: PathBuf,
    tmp: PathBuf,
    worktree: Option<Worktree>,
    /// What each file the agent wrote held before its first write (`None`: it did not exist).
    originals: Mutex<BTreeMap<String, Option<String>>>,
    _scratch: tempfile::TempDir,
}

#[derive(Debug)]
struct Worktree {
    repository: PathBuf,
    path: PathBuf,
}

impl WorkingCopy {
    /// A working copy of `project` in a new directory under `scratch` (the system's temporary
    /// directory when `None`). Blocking: call it from a blocking task.
    pub fn create(project: &Path, scratch: Option<&Path>) -> Result<Self> {
        let project = project.canonicalize().map_err(|error| {
            AgentError::invalid("path", format!("{}: {error}", project.display()))
        })?;
        if !project.is_dir() {
            return Err(AgentError::invalid(
                "path",
                format!("{} is not a directory", project.display()),
            ));
        }
        let dir = match scratch {
            Some(parent) => tempfile::Builder::new()
                .prefix("trae-tdd-")
                .tempdir_in(parent),
            None => tempfile::Builder::new().prefix("trae-tdd-").tempdir(),
        }
        .map_err(|error| {
            AgentError::Sandbox(format!("cannot make a scratch directory: {error}"))
        })?;
        let scratch_root = dir.path().canonicalize().map_err(io("scratch directory"))?;
        let tmp = scratch_root.join("tmp");
        std::fs::create_dir(&tmp).map_err(io("scratch directory"))?;
        let (root, worktree) = match git_toplevel(&project) {
            Some(top) => {
                let path = scratch_root.join("work");
                add_worktree(&top, &path)?;
                let inside = project.strip_prefix(&top).unwrap_or(Path::new(""));
                let worktree = Worktree {
                    repository: top.clone(),
                    path: path.clone(),
                };
                carry_over_changes(&top, &path)?;
                (path.join(inside), Some(worktree))
            }
            None => {
                let path = scratch_root.join("work");
                copy_tree(&project, &path)?;
                (path, None)
            }
        };
        Ok(Self {
            project,
            root,
            tmp,
            worktree,
            originals: Mutex::new(BTreeMap::new()),
            _scratch: dir,
        })
    }

    /// The project it is a copy of (canonical).
    pub fn project(&self) -> &Path {
        &self.project
    }

    /// The working copy's root, where commands run.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its scratch directory (a command's `TMPDIR`).
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// Whether it is a git worktree (else a copy).
    pub fn is_worktree(&self) -> bool {
        self.worktree.is_some()
    }

    /// The text of a file of the working copy; `None` when the path is unsafe, leaves the
    /// working copy, or names no readable text file.
    pub fn read(&self, path: &str) -> Option<String> {
        let path = project_path(path)?;
        let full = confined(&self.root, &path).ok()?;
        std::fs::read_to_string(full).ok()
    }

    /// Writes a file of the working copy, creating its directories; refuses a path that is
    /// unsafe or leads outside through a symbolic link.
    pub fn write(&self, path: &str, content: &str) -> Result<()> {
        let normal = project_path(path).ok_or_else(|| {
            AgentError::invalid("path", format!("{path:?} is not inside the project"))
        })?;
        let full = confined(&self.root, &normal)?;
        {
            let mut originals = self.originals.lock().expect("originals lock");
            originals
                .entry(normal)
                .or_insert_with(|| std::fs::read_to_string(&full).ok());
        }
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(io("a directory of the working copy"))?;
        }
        std::fs::write(&full, content).map_err(io("a file of the working copy"))
    }

    /// The files the agent changed, with their content now (`None`: deleted), by path.
    pub fn changed_files(&self) -> BTreeMap<String, Option<String>> {
        let originals = self.originals.lock().expect("originals lock");
        originals
            .iter()
            .filter_map(|(path, before)| {
                let now = self.read(path);
                (now != *before).then(|| (path.clone(), now))
            })
            .collect()
    }

    /// What the files of [`WorkingCopy::changed_files`] held before the agent's first write
    /// (`None`: they did not exist).
    pub fn original_files(&self) -> BTreeMap<String, Option<String>> {
        let changed = self.changed_files();
        let originals = self.originals.lock().expect("originals lock");
        originals
            .iter()
            .filter(|(path, _)| changed.contains_key(*path))
            .map(|(path, before)| (path.clone(), before.clone()))
            .collect()
    }

    /// Removes a file of the working copy (a missing one is fine); refuses paths as
    /// [`WorkingCopy::write`] does.
    pub fn remove(&self, path: &str) -> Result<()> {
        let normal = project_path(path).ok_or_else(|| {
            AgentError::invalid("path", format!("{path:?} is not inside the project"))
        })?;
        let full = confined(&self.root, &normal)?;
        match std::fs::remove_file(full) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(AgentError::Sandbox(format!(
                "a file of the working copy: {error}"
            ))),
        }
    }

    /// The unified diff of every file the agent changed.
    pub fn diff(&self) -> Vec<FileDiff> {
        let originals = self.originals.lock().expect("originals lock").clone();
        originals
            .into_iter()
            .filter_map(|(path, before)| {
                let now = self.read(&path);
                (now != before).then(|| FileDiff {
                    diff: unified_diff(&path, before.as_deref(), now.as_deref()),
                    path,
                })
            })
            .collect()
    }
}

impl Drop for WorkingCopy {
    fn drop(&mut self) {
        if let Some(worktree) = &self.worktree {
            let removed = Command::new("git")
                .arg("-C")
                .arg(&worktree.repository)
                .args(["worktree", "remove", "--force"])
                .arg(&worktree.path)
                .output();
            if !removed.is_ok_and(|out| out.status.success()) {
                tracing::warn!(path = %worktree.path.display(), "cannot remove a git worktree");
            }
        }
    }
}

/// A unified diff of one file, three lines of context.
pub fn unified_diff(path: &str, before: Option<&str>, after: Option<&str>) -> String {
    let (old, new) = (before.unwrap_or(""), after.unwrap_or(""));
    let from = if before.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_owned()
    };
    let to = if after.is_some() {
        format!("b/{path}")
    } else {
        "/dev/null".to_owned()
    };
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&from, &to)
        .to_string()
}

/// `root/path`, refusing it when an existing part of it is a symbolic link leading outside
/// `root` (a missing tail is fine: it will be created inside).
fn confined(root: &Path, path: &str) -> Result<PathBuf> {
    let escape = || AgentError::invalid("path", format!("{path} leads outside the working copy"));
    let root = root.canonicalize().map_err(io("the working copy"))?;
    let mut at = root.clone();
    for part in path.split('/') {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = at.canonicalize().map_err(|_| escape())?;
                if !target.starts_with(&root) {
                    return Err(escape());
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(root.join(path))
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> AgentError {
    move |error| AgentError::Sandbox(format!("{what}: {error}"))
}

/// The top of the git repository `dir` is in, when it is in one and git is installed.
fn git_toplevel(dir: &Path) -> Option<PathBuf> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // A repository without a commit has no HEAD to make a worktree of: copy it instead.
    let head = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .output()
        .ok()?;
    if !head.status.success() {
        return None;
    }
    let top = String::from_utf8(out.stdout).ok()?;
    PathBuf::from(top.trim()).canonicalize().ok()
}

fn git(repository: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repository)
        .args(args)
        .output()
        .map_err(|error| AgentError::Sandbox(format!("git: {error}")))?;
    if !out.status.success() {
        return Err(AgentError::Sandbox(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

fn add_worktree(repository: &Path, path: &Path) -> Result<()> {
    let path = path
        .to_str()
        .ok_or_else(|| AgentError::Sandbox("a scratch path is not UTF-8".into()))?;
    git(
        repository,
        &["worktree", "add", "--detach", "--quiet", path, "HEAD"],
    )
    .map(drop)
}

/// Copies the user's uncommitted changes (modified, added, deleted, untracked; not ignored)
/// from the repository's work tree into the worktree.
fn carry_over_changes(repository: &Path, worktree: &Path) -> Result<()> {
    let status = git(
        repository,
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
        ],
    )?;
    for entry in status.split(|&b| b == 0).filter(|e| e.len() > 3) {
        let path = String::from_utf8_lossy(&entry[3..]).into_owned();
        let (from, to) = (repository.join(&path), worktree.join(&path));
        match std::fs::symlink_metadata(&from) {
            Ok(meta) if meta.is_dir() => copy_tree(&from, &to)?,
            Ok(_) => {
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(io("the worktree"))?;
                }
                copy_entry(&from, &to)?;
            }
            Err(_) => {
                let _ = std::fs::remove_file(&to);
            }
        }
    }
    Ok(())
}

/// Copies a directory tree, build output and caches left out, symbolic links as links.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(io("the working copy"))?;
    for entry in std::fs::read_dir(from).map_err(io("the project"))? {
        let entry = entry.map_err(io("the project"))?;
        let name = entry.file_name();
        let kind = entry.file_type().map_err(io("the project"))?;
        if kind.is_dir() && SKIPPED_DIRS.iter().any(|skip| name == *skip) {
            continue;
        }
        let target = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            copy_entry(&entry.path(), &target)?;
        }
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).map_err(io("the project"))?;
    if meta.file_type().is_symlink() {
        let link = std::fs::read_link(from).map_err(io("the project"))?;
        let _ = std::fs::remove_file(to);
        std::os::unix::fs::symlink(link, to).map_err(io("the working copy"))
    } else {
        std::fs::copy(from, to)
            .map(drop)
            .map_err(io("the working copy"))
    }
}

/// A digest of a project's files (paths and contents, build output and caches left out, and
/// in a git repository the ignored files too), to tell whether it changed since a run began.
/// Blocking.
pub fn project_digest(project: &Path) -> Result<String> {
    let mut files = Vec::new();
    match git_toplevel(project) {
        Some(_) => {
            let listed = git(
                project,
                &[
                    "ls-files",
                    "-z",
                    "--cached",
                    "--others",
                    "--exclude-standard",
                    ".",
                ],
            )?;
            for path in listed.split(|&b| b == 0).filter(|p| !p.is_empty()) {
                files.push(String::from_utf8_lossy(path).into_owned());
            }
        }
        None => list_tree(project, "", &mut files)?,
    }
    files.sort();
    let mut hasher = Sha256::new();
    for path in &files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        match std::fs::read(project.join(path)) {
            Ok(bytes) => {
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(&bytes);
            }
            Err(_) => hasher.update(b"-"),
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn list_tree(dir: &Path, prefix: &str, files: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io("the project"))? {
        let entry = entry.map_err(io("the project"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(io("the project"))?;
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if kind.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                list_tree(&entry.path(), &path, files)?;
            }
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Writes an accepted run's files into the project (`None` deletes), refusing with a
/// conflict when the project's digest is no longer `digest_at_start`: the user changed it
/// since the run began, and the run's result was made against other files. Blocking.
pub fn write_into_project(
    project: &Path,
    digest_at_start: &str,
    files: &BTreeMap<String, Option<String>>,
) -> Result<()> {
    let project = project
        .canonicalize()
        .map_err(|error| AgentError::invalid("path", format!("{}: {error}", project.display())))?;
    if project_digest(&project)? != digest_at_start {
        return Err(AgentError::Core(trae_core::Error::Conflict(
            "the project changed since the run started; run again".into(),
        )));
    }
    // Check every path before writing any, so a refusal leaves nothing half-written.
    let mut targets = Vec::with_capacity(files.len());
    for (path, content) in files {
        let normal = project_path(path).ok_or_else(|| {
            AgentError::invalid("path", format!("{path:?} is not inside the project"))
        })?;
        targets.push((confined(&project, &normal)?, content));
    }
    for (full, content) in targets {
        match content {
            Some(content) => {
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent).map_err(io("a project directory"))?;
                }
                std::fs::write(&full, content).map_err(io("a project file"))?;
            }
            None => {
                let _ = std::fs::remove_file(&full);
            }
        }
    }
    Ok(())
}
