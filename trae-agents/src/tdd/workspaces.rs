//! The directories agents may work on (`TRAE_AGENT_WORKSPACES`): a project is accepted only
//! when, symlinks resolved, it lies inside one of them.

use std::path::{Path, PathBuf};

use crate::error::{AgentError, Result};

/// The allowed workspaces, canonical.
#[derive(Debug, Clone, Default)]
pub struct Workspaces {
    roots: Vec<PathBuf>,
}

impl Workspaces {
    /// The workspaces `roots` (one that does not exist is dropped; none: no project is
    /// allowed).
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self {
            roots: roots
                .into_iter()
                .filter_map(|w| w.canonicalize().ok())
                .collect(),
        }
    }

    /// The project directory `path`, canonical, when it lies inside an allowed workspace.
    pub fn confine(&self, path: &str) -> Result<PathBuf> {
        let outside = || {
            AgentError::invalid(
                "path",
                "the project is not inside an allowed workspace (TRAE_AGENT_WORKSPACES)",
            )
        };
        let project = Path::new(path).canonicalize().map_err(|_| outside())?;
        if !project.is_dir() {
            return Err(AgentError::invalid(
                "path",
                "the project is not a directory",
            ));
        }
        if self.roots.iter().any(|w| project.starts_with(w)) {
            Ok(project)
        } else {
            Err(outside())
        }
    }
}
