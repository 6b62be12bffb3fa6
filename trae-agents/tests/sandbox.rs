//! The sandbox agents run commands in: working copies (a plain copy, a git worktree with the
//! user's uncommitted changes) that the project never sees until an accept, path confinement
//! (`..`, absolute paths, symbolic links out), and commands run as argv with an environment
//! allow-list, wall-time, CPU, memory and output limits, and writes confined by Landlock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use trae_agents::AgentError;
use trae_agents::sandbox::confinement::Confined;
use trae_agents::sandbox::{
    CommandLimits, SandboxedCommand, WorkingCopy, parse_argv, project_digest, write_into_project,
};

fn write(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pkg/calc.py",
        "def add(a, b):\n    return a - b\n",
    );
    write(
        dir.path(),
        "tests/test_calc.py",
        "from pkg.calc import add\n",
    );
    write(dir.path(), "target/debug/big.bin", "build output");
    write(dir.path(), "pkg/__pycache__/calc.pyc", "bytecode");
    dir
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn command(copy: &WorkingCopy, argv: &[&str], limits: CommandLimits) -> SandboxedCommand {
    SandboxedCommand {
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        cwd: copy.root().to_path_buf(),
        writable: vec![copy.root().to_path_buf(), copy.tmp().to_path_buf()],
        tmp: copy.tmp().to_path_buf(),
        env: BTreeMap::from([("TRAE_GIVEN".to_owned(), "given".to_owned())]),
        limits,
    }
}

fn quick() -> CommandLimits {
    CommandLimits {
        wall_time: Duration::from_secs(20),
        ..CommandLimits::default()
    }
}

#[test]
fn a_copy_leaves_out_build_output_and_edits_never_reach_the_project() {
    let project = project();
    let copy = WorkingCopy::create(project.path(), None).unwrap();
    assert!(!copy.is_worktree());
    assert!(copy.root().join("pkg/calc.py").exists());
    assert!(!copy.root().join("target").exists());
    assert!(!copy.root().join("pkg/__pycache__").exists());

    copy.write("pkg/calc.py", "def add(a, b):\n    return a + b\n")
        .unwrap();
    copy.write("pkg/new.py", "X = 1\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(project.path().join("pkg/calc.py")).unwrap(),
        "def add(a, b):\n    return a - b\n"
    );
    assert!(!project.path().join("pkg/new.py").exists());
    let diff = copy.diff();
    assert_eq!(diff.len(), 2);
    assert_eq!(diff[0].path, "pkg/calc.py");
    assert!(
        diff[0]
            .diff
            .contains("-    return a - b\n+    return a + b\n"),
        "{}",
        diff[0].diff
    );
    assert!(
        diff[1].diff.starts_with("--- /dev/null\n+++ b/pkg/new.py"),
        "{}",
        diff[1].diff
    );
}

#[test]
fn paths_that_leave_the_working_copy_are_refused() {
    let project = project();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", "do not read");
    std::os::unix::fs::symlink(outside.path(), project.path().join("escape")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        project.path().join("secret_link"),
    )
    .unwrap();
    std::os::unix::fs::symlink("pkg/calc.py", project.path().join("inside_link")).unwrap();
    let copy = WorkingCopy::create(project.path(), None).unwrap();

    for path in [
        "../x.py",
        "/etc/passwd",
        "pkg/../../x.py",
        ".git/config",
        "escape/new.py",
        "secret_link",
    ] {
        assert!(
            matches!(copy.write(path, "pwned"), Err(AgentError::Invalid { .. })),
            "{path} was written"
        );
    }
    assert_eq!(copy.read("secret_link"), None);
    assert_eq!(copy.read("escape/secret.txt"), None);
    assert_eq!(copy.read("../secret.txt"), None);
    assert!(!outside.path().join("new.py").exists());
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "do not read"
    );
    // A link that stays inside is an ordinary path.
    assert_eq!(
        copy.read("inside_link").as_deref(),
        Some("def add(a, b):\n    return a - b\n")
    );
}

#[test]
fn a_git_project_gets_a_worktree_with_its_uncommitted_changes() {
    let project = project();
    let root = project.path();
    write(root, ".gitignore", "target/\n__pycache__/\n*.log\n");
    write(root, "old.py", "gone = True\n");
    git(root, &["init", "-q"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "start"]);
    write(
        root,
        "pkg/calc.py",
        "def add(a, b):\n    return a - b  # edited, not committed\n",
    );
    write(root, "pkg/untracked.py", "NEW = 1\n");
    write(root, "debug.log", "ignored");
    std::fs::remove_file(root.join("old.py")).unwrap();

    let copy = WorkingCopy::create(root, None).unwrap();
    assert!(copy.is_worktree());
    assert_eq!(
        copy.read("pkg/calc.py").as_deref(),
        Some("def add(a, b):\n    return a - b  # edited, not committed\n")
    );
    assert_eq!(copy.read("pkg/untracked.py").as_deref(), Some("NEW = 1\n"));
    assert_eq!(copy.read("old.py"), None);
    assert_eq!(copy.read("debug.log"), None);
    copy.write("pkg/calc.py", "fixed\n").unwrap();
    assert!(
        std::fs::read_to_string(root.join("pkg/calc.py"))
            .unwrap()
            .contains("edited")
    );

    let worktrees = || {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["worktree", "list"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(worktrees(), 2);
    drop(copy);
    assert_eq!(
        worktrees(),
        1,
        "the worktree is removed with the working copy"
    );
}

#[test]
fn accepting_writes_into_an_unchanged_project_only() {
    let project = project();
    let digest = project_digest(project.path()).unwrap();
    let files = BTreeMap::from([
        (
            "pkg/calc.py".to_owned(),
            Some("def add(a, b):\n    return a + b\n".to_owned()),
        ),
        ("pkg/extra.py".to_owned(), Some("E = 1\n".to_owned())),
    ]);
    write(project.path(), "tests/test_calc.py", "changed underneath\n");
    let refused = write_into_project(project.path(), &digest, &files);
    assert!(
        matches!(
            refused,
            Err(AgentError::Core(trae_core::Error::Conflict(_)))
        ),
        "{refused:?}"
    );
    assert!(
        std::fs::read_to_string(project.path().join("pkg/calc.py"))
            .unwrap()
            .contains("a - b")
    );
    assert!(!project.path().join("pkg/extra.py").exists());

    let digest = project_digest(project.path()).unwrap();
    let unsafe_files = BTreeMap::from([("../evil.py".to_owned(), Some("x".to_owned()))]);
    assert!(write_into_project(project.path(), &digest, &unsafe_files).is_err());
    write_into_project(project.path(), &digest, &files).unwrap();
    assert!(
        std::fs::read_to_string(project.path().join("pkg/calc.py"))
            .unwrap()
            .contains("a + b")
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("pkg/extra.py")).unwrap(),
        "E = 1\n"
    );
}

#[test]
fn command_lines_are_split_like_a_shell_but_never_run_by_one() {
    assert_eq!(
        parse_argv("python -m pytest -q 'tests/a b.py' -k \"not slow\"").unwrap(),
        [
            "python",
            "-m",
            "pytest",
            "-q",
            "tests/a b.py",
            "-k",
            "not slow"
        ]
    );
    assert!(matches!(parse_argv("  "), Err(AgentError::Invalid { .. })));
    assert!(matches!(
        parse_argv("pytest 'unclosed"),
        Err(AgentError::Invalid { .. })
    ));
}

#[tokio::test]
async fn a_command_sees_only_the_allowed_environment_and_no_shell() {
    let project = project();
    let copy = WorkingCopy::create(project.path(), None).unwrap();
    let argv = parse_argv("echo $HOME; rm -rf / `id`").unwrap();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let run = command(&copy, &argv, quick())
        .run(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(run.stdout, "$HOME; rm -rf / `id`\n");
    assert_eq!(run.exit_code, Some(0));

    let run = command(&copy, &["env"], quick())
        .run(&CancellationToken::new())
        .await
        .unwrap();
    assert!(run.stdout.contains("PATH="), "{}", run.stdout);
    assert!(run.stdout.contains("TRAE_GIVEN=given"));
    assert!(
        run.stdout
            .contains(&format!("TMPDIR={}", copy.tmp().display()))
    );
    // cargo gives the test process CARGO_* variables; none may reach the command.
    assert!(std::env::var("CARGO_PKG_NAME").is_ok());
    assert!(!run.stdout.contains("CARGO_PKG_NAME"), "{}", run.stdout);

    let missing = command(&copy, &["no-such-program-here"], quick())
        .run(&CancellationToken::new())
        .await;
    assert!(
        matches!(missing, Err(AgentError::Invalid { ref field, .. }) if field == "test"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn writes_outside_the_working_copy_are_refused_by_the_kernel() {
    let project = project();
    let outside = tempfile::tempdir().unwrap();
    let target: PathBuf = outside.path().join("escaped.txt");
    let copy = WorkingCopy::create(project.path(), None).unwrap();
    let script = format!("touch inside.txt && touch {}", target.display());
    let run = command(&copy, &["sh", "-c", &script], quick())
        .run(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        run.confined,
        Confined::Fully,
        "this kernel must enforce Landlock"
    );
    assert_ne!(run.exit_code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
    assert!(copy.root().join("inside.txt").exists());
    assert!(!target.exists());
    assert!(
        !project.path().join("inside.txt").exists(),
        "the project itself is outside too"
    );
}

#[tokio::test]
async fn wall_time_kills_the_whole_process_group() {
    let project = project();
    let copy = WorkingCopy::create(project.path(), None).unwrap();
    let limits = CommandLimits {
        wall_time: Duration::from_millis(700),
        ..CommandLimits::default()
    };
    let pid_file = copy.tmp().join("child.pid");
    let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
    let run = command(&copy, &["sh", "-c", &script], limits)
        .run(&CancellationToken::new())
        .await
        .unwrap();
    assert!(run.timed_out);
    assert_eq!(run.exit_code, None);
    assert!(run.elapsed < Duration::from_secs(10));
    let child: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut alive = true;
    for _ in 0..50 {
        let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        if state.is_empty() || state.split_whitespace().nth(2) == Some("Z") {
            alive = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!alive, "the background child survived its group");
}

#[tokio::test]
async fn cancellation_cpu_memory_and_output_limits_hold() {
    let project = project();
    let copy = WorkingCopy::create(project.path(), None).unwrap();

    let cancel = CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        later.cancel();
    });
    let run = command(&copy, &["sleep", "60"], quick())
        .run(&cancel)
        .await
        .unwrap();
    assert!(run.cancelled && !run.timed_out);
    assert!(run.elapsed < Duration::from_secs(10));

    let cpu = CommandLimits {
        cpu_seconds: 1,
        ..quick()
    };
    let run = command(&copy, &["sh", "-c", "while :; do :; done"], cpu)
        .run(&CancellationToken::new())
        .await
        .unwrap();
    assert!(!run.timed_out, "the CPU limit, not the wall time, ended it");
    assert_eq!(run.exit_code, None, "killed by SIGXCPU");

    let memory = CommandLimits {
        memory_bytes: 256 << 20,
        ..quick()
    };
    let run = command(&copy, &["python3", "-c", "bytearray(1 << 30)"], memory)
        .run(&CancellationToken::new())
        .await
        .unwrap();
    assert_ne!(run.exit_code, Some(0));
    assert!(run.stderr.contains("MemoryError"), "{}", run.stderr);

    let small = CommandLimits {
        output_bytes: 1_000,
        ..quick()
    };
    let run = command(&copy, &["seq", "1", "200000"], small)
        .run(&CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(run.exit_code, Some(0));
    assert!(run.stdout.len() <= 1_100, "{}", run.stdout.len());
    assert!(run.stdout.starts_with("1\n2\n3\n"));
    assert!(run.stdout.trim_end().ends_with("199999\n200000"));
    assert!(run.stdout.contains("bytes left out"));
}
