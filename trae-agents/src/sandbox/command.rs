//! Running one command in a working copy: argv only, a cleared environment with an
//! allow-list, its own process group (killed whole on timeout, cancellation, or when it
//! exits leaving children behind), CPU and address-space limits, output capped keeping both
//! ends, and writes confined to the working copy (see [`super::confinement`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Resource, Rlimit, Signal};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;
use trae_core::tdd::test_report::keep_both_ends;

use super::confinement::{Confined, confine_this_thread};
use crate::error::{AgentError, Result};

/// Environment variables a command inherits from trae's own environment; every other one is
/// dropped (tokens, database URLs and keys must not reach code under test).
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "VIRTUAL_ENV",
];

/// What a command may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLimits {
    /// Wall time before the command's process group is killed.
    pub wall_time: Duration,
    /// CPU seconds (RLIMIT_CPU) of each process.
    pub cpu_seconds: u64,
    /// Address space (RLIMIT_AS) of each process, in bytes.
    pub memory_bytes: u64,
    /// Output kept of stdout and of stderr each; the middle of longer output is dropped.
    pub output_bytes: usize,
}

impl Default for CommandLimits {
    fn default() -> Self {
        Self {
            wall_time: Duration::from_secs(300),
            cpu_seconds: 600,
            memory_bytes: 8 << 30,
            output_bytes: 256 * 1024,
        }
    }
}

/// What a command came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    /// Its exit code; `None` when a signal ended it (a timeout, a cancellation, a limit).
    pub exit_code: Option<i32>,
    /// Its standard output, cut to the limit keeping both ends.
    pub stdout: String,
    /// Its standard error, likewise.
    pub stderr: String,
    /// It ran out of wall time and was killed.
    pub timed_out: bool,
    /// It was cancelled and killed.
    pub cancelled: bool,
    /// How long it ran.
    pub elapsed: Duration,
    /// How far its writes were confined.
    pub confined: Confined,
}

/// A command to run in a working copy.
#[derive(Debug, Clone)]
pub struct SandboxedCommand {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The directory it starts in (the working copy).
    pub cwd: PathBuf,
    /// Where it may write: the working copy, its scratch directory, and any other path the
    /// caller allows (a shared cargo target directory, say).
    pub writable: Vec<PathBuf>,
    /// Its scratch directory, given as `TMPDIR`.
    pub tmp: PathBuf,
    /// Variables set on top of the inherited allow-list.
    pub env: BTreeMap<String, String>,
    /// Its limits.
    pub limits: CommandLimits,
}

/// A command line as argv, split the way a POSIX shell splits words (quotes, backslashes) but
/// never run through one: no expansion, no pipes, no redirection.
pub fn parse_argv(command: &str) -> Result<Vec<String>> {
    let argv = shell_words::split(command).map_err(|error| {
        AgentError::invalid("test", format!("cannot split the command: {error}"))
    })?;
    if argv.is_empty() {
        return Err(AgentError::invalid("test", "the command is empty"));
    }
    Ok(argv)
}

impl SandboxedCommand {
    /// Runs the command to its end, its wall time, or `cancel`.
    pub async fn run(&self, cancel: &CancellationToken) -> Result<CommandRun> {
        let program = self
            .argv
            .first()
            .ok_or_else(|| AgentError::invalid("test", "the command is empty"))?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(&self.argv[1..])
            .current_dir(&self.cwd)
            .env_clear()
            .envs(
                INHERITED_ENV
                    .iter()
                    .filter_map(|name| std::env::var_os(name).map(|value| (*name, value))),
            )
            .env("TMPDIR", &self.tmp)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);

        let started = Instant::now();
        let (mut child, confined) = spawn_confined(command, self.writable.clone()).await?;
        let pid = child.id().and_then(|id| Pid::from_raw(id as i32));
        if let Some(pid) = pid {
            limit(pid, &self.limits);
        }
        let cap = self.limits.output_bytes;
        let stdout = tokio::spawn(read_capped(child.stdout.take(), cap));
        let stderr = tokio::spawn(read_capped(child.stderr.take(), cap));

        let (mut timed_out, mut cancelled) = (false, false);
        let status = tokio::select! {
            status = child.wait() => Some(status),
            () = tokio::time::sleep(self.limits.wall_time) => { timed_out = true; None }
            () = cancel.cancelled() => { cancelled = true; None }
        };
        // The whole group goes, whatever ended the wait: children it left running would hold
        // its pipes open and keep writing to the working copy.
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
        let status = match status {
            Some(status) => status,
            None => child.wait().await,
        }
        .map_err(|error| AgentError::Sandbox(format!("waiting for {program}: {error}")))?;
        let output = |joined: std::result::Result<String, tokio::task::JoinError>| {
            joined.unwrap_or_default()
        };
        Ok(CommandRun {
            exit_code: status.code(),
            stdout: output(stdout.await),
            stderr: output(stderr.await),
            timed_out,
            cancelled,
            elapsed: started.elapsed(),
            confined,
        })
    }
}

/// Spawns `command` from a thread that confines itself first, so the child starts confined.
async fn spawn_confined(
    mut command: tokio::process::Command,
    writable: Vec<PathBuf>,
) -> Result<(tokio::process::Child, Confined)> {
    let runtime = tokio::runtime::Handle::current();
    let (sent, received) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("trae-sandbox-spawn".into())
        .spawn(move || {
            let _runtime = runtime.enter();
            let spawned = confine_this_thread(&writable)
                .map_err(|error| {
                    AgentError::Sandbox(format!("cannot confine the command: {error}"))
                })
                .and_then(|confined| {
                    command
                        .spawn()
                        .map(|child| (child, confined))
                        .map_err(|error| spawn_error(&command, &error))
                });
            let _ = sent.send(spawned);
        })
        .map_err(|error| AgentError::Sandbox(format!("cannot start a thread: {error}")))?;
    received
        .await
        .map_err(|_| AgentError::Sandbox("the spawning thread died".into()))?
}

fn spawn_error(command: &tokio::process::Command, error: &std::io::Error) -> AgentError {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    if error.kind() == std::io::ErrorKind::NotFound {
        AgentError::invalid("test", format!("no program named {program:?}"))
    } else {
        AgentError::Sandbox(format!("cannot start {program}: {error}"))
    }
}

/// CPU and address-space limits on the child, set as soon as it exists (a few microseconds
/// after it started; the workspace forbids the `unsafe` a pre-exec hook would need).
fn limit(pid: Pid, limits: &CommandLimits) {
    let cap = |value| Rlimit {
        current: Some(value),
        maximum: Some(value),
    };
    for (resource, value) in [
        (Resource::Cpu, limits.cpu_seconds),
        (Resource::As, limits.memory_bytes),
    ] {
        if let Err(error) = rustix::process::prlimit(Some(pid), resource, cap(value)) {
            tracing::warn!(?resource, %error, "cannot limit a sandboxed command");
        }
    }
}

/// Everything `pipe` gives, keeping the first and last `cap / 2` bytes.
async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, cap: usize) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let half = cap / 2;
    let mut head: Vec<u8> = Vec::new();
    let mut tail: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut dropped = 0usize;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let read = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        for &byte in &chunk[..read] {
            if head.len() < half {
                head.push(byte);
            } else {
                tail.push_back(byte);
                if tail.len() > half {
                    tail.pop_front();
                    dropped += 1;
                }
            }
        }
    }
    let mut bytes = head;
    if dropped > 0 {
        bytes.extend_from_slice(format!("\n… {dropped} bytes left out …\n").as_bytes());
    }
    bytes.extend(tail);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // Lossy decoding at the cut can add replacement characters; the cap still holds.
    keep_both_ends(&text, cap + 64)
}
