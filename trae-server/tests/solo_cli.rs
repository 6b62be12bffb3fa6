//! `trae solo interview`, the real binary with its answers on stdin (no model configured, so
//! the templates ask): a blank answer asked again, an answer revised with `:revise`, an answer
//! continued over two lines, the spec printed at the end; an interview left with `:quit` and
//! finished with `--resume`; a bad project type refused.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn trae(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trae"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("TRAE_DATA_DIR", data)
        .env("TRAE_LOG", "warn")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn an_interview_is_answered_revised_and_ends_in_a_spec() {
    let data = tempfile::tempdir().unwrap();
    let answers = [
        "todos: create, list",
        "",
        "developers",
        ":revise 1",
        "todos: create, list, delete",
        "developers",
        "track work",
        "add a todo: POST /todos answers 201\\",
        "list todos: GET /todos lists them",
        "none",
        "billing",
    ]
    .join("\n");
    let out = trae(
        data.path(),
        &["solo", "interview", "--type", "api", "--idea", "A todo API"],
        &answers,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("\nQ1 [template] Which resources does the API expose"),
        "{stdout}"
    );
    assert!(stderr.contains("answer: must not be blank"), "{stderr}");
    assert!(stdout.contains("was: todos: create, list\n"), "{stdout}");
    assert!(
        stdout.contains("\n# A todo API\n\nA todo API\n\ntodos: create, list, delete\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("### add a todo\n\nAcceptance:\n\n- [ ] POST /todos answers 201\n"),
        "{stdout}"
    );
    assert!(stdout.contains("- [ ] GET /todos lists them"), "{stdout}");
    assert!(
        stdout.contains("## Out of scope\n\n- billing\n"),
        "{stdout}"
    );
    assert!(
        stderr.contains("spec version 1 written by the template"),
        "{stderr}"
    );
}

#[test]
fn an_interview_left_with_quit_is_resumed() {
    let data = tempfile::tempdir().unwrap();
    let out = trae(
        data.path(),
        &["solo", "interview"],
        "cli\nA backup tool\nbackup, restore\n:quit\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let id = stderr
        .split("--resume ")
        .nth(1)
        .map(str::trim)
        .expect("says how to resume")
        .to_owned();

    let out = trae(
        data.path(),
        &["solo", "interview", "--resume", &id],
        "operators\nkeep data safe\nbackup: a file appears\nnone\nnone\n",
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The resumed interview starts at the question it was left on (the second).
    assert!(
        stdout.starts_with("\nQ2 [template] Who will use it"),
        "{stdout}"
    );
    assert!(stdout.contains("# A backup tool\n"), "{stdout}");
    assert!(stdout.contains("- [ ] a file appears"), "{stdout}");

    for args in [
        vec!["solo", "interview", "--type", "game", "--idea", "x"],
        vec![
            "solo",
            "interview",
            "--resume",
            "0193f1c2-0000-7000-8000-000000000000",
        ],
    ] {
        let out = trae(data.path(), &args, "");
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

/// Waits until the tmux pane `session` shows `text`, and returns the pane.
fn pane_with(session: &str, text: &str) -> String {
    let mut pane = String::new();
    for _ in 0..150 {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-S", "-200", "-t", session])
            .output()
            .unwrap();
        pane = String::from_utf8_lossy(&out.stdout).into_owned();
        if pane.contains(text) {
            return pane;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("the pane never showed {text:?}:\n{pane}");
}

#[test]
fn the_interview_runs_in_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: no tmux (.ci/run installs it)");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let session = format!("trae-solo-{}", std::process::id());
    let command = format!(
        "env TRAE_DATA_DIR='{}' TRAE_LOG=warn '{}' solo interview --type library --idea 'A date parser'; echo EXIT=$?; sleep 60",
        data.path().display(),
        env!("CARGO_BIN_EXE_trae")
    );
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "60",
            "-s",
            &session,
            &command,
        ])
        .status()
        .unwrap();
    assert!(started.success());
    let keys = |text: &str| {
        let sent = Command::new("tmux")
            .args(["send-keys", "-t", &session, "-l", text])
            .status()
            .unwrap();
        assert!(sent.success());
        Command::new("tmux")
            .args(["send-keys", "-t", &session, "Enter"])
            .status()
            .unwrap();
    };
    pane_with(&session, "Q1 [template] Which functions or types");
    keys("parse(text) -> Date");
    pane_with(&session, "Q2 [template]");
    keys(":revise 1");
    pane_with(&session, "was: parse(text) -> Date");
    keys("parse(text) -> Result<Date>");
    pane_with(&session, "Q2 [template]");
    for answer in [
        "rust programs",
        "parse ISO dates",
        "parse: 2026-01-02 parses",
        "no_std",
        "time zones",
    ] {
        keys(answer);
    }
    let pane = pane_with(&session, "EXIT=");
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .status();
    assert!(pane.contains("EXIT=0"), "{pane}");
    assert!(pane.contains("# A date parser"), "{pane}");
    assert!(pane.contains("parse(text) -> Result<Date>"), "{pane}");
    assert!(pane.contains("- [ ] 2026-01-02 parses"), "{pane}");
    assert!(
        pane.contains("spec version 1 written by the template"),
        "{pane}"
    );
}
