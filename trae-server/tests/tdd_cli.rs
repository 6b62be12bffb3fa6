//! `trae tdd run` and `trae tdd replay`, the real binary against a scripted
//! OpenAI-compatible server on 127.0.0.1: a fix printed as a diff and applied with `--apply`,
//! replayed to the same result; a run that does not pass exits with an error and leaves the
//! project alone; a bad command line is refused before anything runs. `trae tdd gen` keeps
//! only the generated tests that can fail, prints them with the mutation score and writes
//! them with `--apply`.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use trae_agents::Trae;
use trae_agents::testing::{Reply, ScriptedLlm};
use trae_core::{ApiEndpointSpec, Config, Principal, RequestMeta};

const LIB_RS: &str = "pub fn double(x: i32) -> i32 {\n    x + 2\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn doubles_three() {\n        assert_eq!(super::double(3), 6);\n    }\n}\n";
const FIX: &str = "src/lib.rs\n<<<<<<< SEARCH\npub fn double(x: i32) -> i32 {\n    x + 2\n}\n=======\npub fn double(x: i32) -> i32 {\n    x * 2\n}\n>>>>>>> REPLACE\n";
const WRONG: &str = "src/lib.rs\n<<<<<<< SEARCH\npub fn double(x: i32) -> i32 {\n    x + 2\n}\n=======\npub fn double(x: i32) -> i32 {\n    x - 2\n}\n>>>>>>> REPLACE\n";
const MASTER_KEY: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=";

fn project(root: &Path) -> std::path::PathBuf {
    let project = root.join("double");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"double\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(project.join("src/lib.rs"), LIB_RS).unwrap();
    project
}

fn env(data: &Path) -> HashMap<&'static str, String> {
    HashMap::from([
        ("TRAE_DATA_DIR", data.display().to_string()),
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true".to_owned()),
        ("TRAE_MASTER_KEY", MASTER_KEY.to_owned()),
    ])
}

/// Registers the scripted server as the data directory's model endpoint.
async fn register(data: &Path, server: &ScriptedLlm) {
    let env = env(data);
    let trae = Trae::open(Config::from_sources(|k| env.get(k).cloned()).unwrap())
        .await
        .unwrap();
    let mut spec = ApiEndpointSpec::new("local", "llm.chat", server.base_url());
    spec.metadata = json!({"default_model": "scripted"});
    trae.apis()
        .registry()
        .create(&Principal::System, spec, &RequestMeta::default())
        .await
        .unwrap();
    trae.close().await;
}

fn trae(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trae"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .envs(env(data))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_is_printed_applied_and_replayed() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let project = project(work.path());
    let server = ScriptedLlm::start().await.unwrap();
    register(data.path(), &server).await;
    server.push(Reply::text(FIX));

    let path = project.display().to_string();
    let out = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        move || {
            trae(
                &data,
                &[
                    "tdd",
                    "run",
                    "--path",
                    &path,
                    "--test",
                    "cargo test --quiet",
                    "--apply",
                ],
            )
        }
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("-    x + 2\n+    x * 2"), "{stdout}");
    assert!(stderr.contains("passed after 1 model rounds"), "{stderr}");
    assert!(
        std::fs::read_to_string(project.join("src/lib.rs"))
            .unwrap()
            .contains("x * 2")
    );

    let id = stderr
        .split("run ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_owned();
    let replay = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        move || trae(&data, &["tdd", "replay", &id])
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(
        text.contains("step 0: failing\nstep 1: green\nreplayed: same result as recorded (passed)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_does_not_pass_fails_and_leaves_the_project_alone() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let project = project(work.path());
    let server = ScriptedLlm::start().await.unwrap();
    register(data.path(), &server).await;
    server.push(Reply::text(WRONG));

    let path = project.display().to_string();
    let out = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        move || {
            trae(
                &data,
                &[
                    "tdd",
                    "run",
                    "--path",
                    &path,
                    "--test",
                    "cargo test --quiet",
                    "--max-iterations",
                    "1",
                    "--apply",
                ],
            )
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("the run ended failed"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(project.join("src/lib.rs")).unwrap(),
        LIB_RS
    );

    for args in [
        vec![
            "tdd",
            "run",
            "--path",
            "/no/such/project",
            "--test",
            "cargo test",
        ],
        vec!["tdd", "run", "--path", ".", "--test", "cargo 'test"],
        vec!["tdd", "replay", "0193f1c2-0000-7000-8000-000000000000"],
    ] {
        let out = trae(data.path(), &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

const CLAMP_RS: &str =
    "pub fn clamp(x: i32) -> i32 {\n    if x > 10 {\n        return 10;\n    }\n    x\n}\n";
const CLAMP_TESTS: &str = "```rust\n#[test]\nfn caps_big_values() {\n    assert_eq!(clamp(11), 10);\n    assert_eq!(clamp(10), 10);\n}\n\n#[test]\nfn always_true() {\n    assert!(clamp(0) <= 10);\n}\n```\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_tests_that_can_fail_are_printed_scored_and_applied() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let project = project(work.path());
    std::fs::write(project.join("src/lib.rs"), CLAMP_RS).unwrap();
    let server = ScriptedLlm::start().await.unwrap();
    register(data.path(), &server).await;
    server.push(Reply::text(CLAMP_TESTS));

    let path = project.display().to_string();
    let out = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        let path = path.clone();
        move || {
            trae(
                &data,
                &[
                    "tdd",
                    "gen",
                    "--path",
                    &path,
                    "--target",
                    "src/lib.rs:clamp",
                    "--apply",
                ],
            )
        }
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("+mod trae_generated {\n+    use super::*;"),
        "{stdout}"
    );
    assert!(stdout.contains("+    fn caps_big_values() {"), "{stdout}");
    assert!(!stdout.contains("always_true"), "{stdout}");
    // `> 10` flipped or made `> 11`, `return 10` made 11 or removed: four, all caught.
    assert!(
        stderr.contains("kept     caps_big_values (kills 4)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dropped  always_true: passes under every mutant"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mutation score 100%: 4 of 4 mutants detected"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
    assert!(written.starts_with(CLAMP_RS) && written.contains("fn caps_big_values()"));

    // Nothing kept: an error exit, and the project stays as it is.
    std::fs::write(project.join("src/lib.rs"), CLAMP_RS).unwrap();
    server.push(Reply::text(
        "```rust\n#[test]\nfn always_true() {\n    assert!(clamp(0) <= 10);\n}\n```\n",
    ));
    let out = tokio::task::spawn_blocking({
        let data = data.path().to_owned();
        let path = path.clone();
        move || {
            trae(
                &data,
                &[
                    "tdd",
                    "gen",
                    "--path",
                    &path,
                    "--target",
                    "src/lib.rs",
                    "--rounds",
                    "1",
                    "--apply",
                ],
            )
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no test was kept after 1 model rounds"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(project.join("src/lib.rs")).unwrap(),
        CLAMP_RS
    );

    // Refused before the model is asked.
    let asked = server.requests().len();
    for args in [
        vec![
            "tdd",
            "gen",
            "--path",
            path.as_str(),
            "--target",
            "src/lib.rs:missing",
        ],
        vec![
            "tdd",
            "gen",
            "--path",
            path.as_str(),
            "--target",
            "../outside.rs",
        ],
        vec![
            "tdd",
            "gen",
            "--path",
            path.as_str(),
            "--target",
            "src/lib.rs",
            "--test",
            "make test",
        ],
        vec![
            "tdd",
            "gen",
            "--path",
            "/no/such/project",
            "--target",
            "src/lib.rs",
        ],
    ] {
        let out = trae(data.path(), &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
    assert_eq!(server.requests().len(), asked);
}
