//! Backups over HTTP on SQLite and PostgreSQL: taking and listing them as an admin, 401 and
//! 403 without `backups:admin`, the audit entry, 409 while a backup runs, and retention of
//! scheduled backups next to manual ones.

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{Endpoint, Response};
use serde_json::Value;
use trae_agents::Trae;
use trae_core::Principal;
use trae_server::App;
use trae_storage::backup_catalog::LOCK_FILE;
use trae_storage::storage_test;

mod common;
use common::signed_in;

struct Harness<E> {
    cli: TestClient<E>,
    state: Trae,
    admin: String,
    dir: tempfile::TempDir,
}

/// Whether this database can be backed up here: PostgreSQL needs pg_dump on PATH.
fn can_back_up(url: &str) -> bool {
    if !url.starts_with("postgres") {
        return true;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|p| p.join("pg_dump").is_file());
    if !found {
        eprintln!(
            "SKIPPED (PostgreSQL backups): pg_dump is not on PATH; install postgresql-client"
        );
    }
    found
}

async fn harness(url: &str, keep: u32) -> Harness<impl Endpoint<Output = Response>> {
    let keep = keep.to_string();
    let (state, dir) = common::state(url, &[("TRAE_BACKUP_KEEP", keep.as_str())]).await;
    let admin = signed_in(&state, "root", &["admin"]).await;
    let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint());
    Harness {
        cli,
        state,
        admin,
        dir,
    }
}

impl<E: Endpoint<Output = Response>> Harness<E> {
    /// Sends a request (as the holder of `token`, if any); returns the status and the body.
    async fn call(&self, token: Option<&str>, method: &str, path: &str) -> (StatusCode, String) {
        let req = match method {
            "GET" => self.cli.get(path),
            "POST" => self.cli.post(path),
            other => panic!("method {other}"),
        };
        let req = match token {
            Some(token) => req.header("authorization", format!("Bearer {token}")),
            None => req,
        };
        let resp = req.send().await;
        let status = resp.0.status();
        (status, resp.0.into_body().into_string().await.unwrap())
    }

    /// As the admin; asserts `status` and returns the JSON body.
    async fn admin(&self, method: &str, path: &str, status: StatusCode) -> Value {
        let (got, text) = self.call(Some(&self.admin), method, path).await;
        assert_eq!(got, status, "{method} {path}: {text}");
        assert!(
            !text.contains(&self.dir.path().display().to_string()),
            "no host path in {text}"
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    fn backup_dir(&self) -> &std::path::Path {
        &self.state.config().backup.dir
    }
}

fn file_names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["file_name"].as_str().unwrap().to_owned())
        .collect()
}

storage_test!(
    an_admin_takes_a_backup_lists_it_and_the_audit_log_has_it,
    |url: String| async move {
        if !can_back_up(&url) {
            return;
        }
        let h = harness(&url, 7).await;
        assert!(h.backup_dir().starts_with(h.dir.path()));

        let taken = h
            .admin("POST", "/api/admin/backups", StatusCode::CREATED)
            .await;
        let name = taken["file_name"].as_str().unwrap().to_owned();
        assert!(name.starts_with("trae-") && !name.contains('/'), "{name}");
        assert_eq!(taken["kind"], "manual");
        let (ext, format) = if url.starts_with("postgres") {
            (".dump", "pg_dump")
        } else {
            (".db", "sqlite")
        };
        assert!(name.ends_with(ext), "{name}");
        assert_eq!(taken["format"], format);
        assert_eq!(taken["sha256"].as_str().unwrap().len(), 64);
        assert!(taken["schema_version"].as_str().unwrap().starts_with('m'));
        assert!(taken.get("path").is_none());
        let file = h.backup_dir().join(&name);
        assert_eq!(
            taken["size"].as_u64().unwrap(),
            std::fs::metadata(&file).unwrap().len()
        );
        trae_storage::backup::verify(&file).await.unwrap();

        let page = h.admin("GET", "/api/admin/backups", StatusCode::OK).await;
        assert_eq!(
            (&page["total"], &page["limit"], &page["offset"]),
            (&1.into(), &50.into(), &0.into())
        );
        assert_eq!(page["items"][0], taken);

        let audit = h
            .admin("GET", "/api/audit?action=backup.create", StatusCode::OK)
            .await;
        assert_eq!(audit["total"], 1, "{audit}");
        let entry = &audit["items"][0];
        assert_eq!(entry["actor"]["name"], "root");
        assert_eq!(entry["outcome"], "success");
        assert_eq!(entry["target"], format!("backup:{name}"));
        assert_eq!(entry["details"]["kind"], "manual");
        assert_eq!(entry["details"]["sha256"], taken["sha256"]);

        // The dashboard's event stream saw it start and complete.
        let kinds: Vec<String> = h
            .state
            .store()
            .events()
            .since(0)
            .iter()
            .filter(|e| e.source == "backups" && e.kind != "progress")
            .map(|e| e.kind.clone())
            .collect();
        assert_eq!(kinds, ["started", "completed"]);
    }
);

storage_test!(
    backups_need_the_backups_admin_permission,
    |url: String| async move {
        let h = harness(&url, 7).await;
        let developer = signed_in(&h.state, "dev", &["developer"]).await;
        for method in ["POST", "GET"] {
            let (status, text) = h.call(None, method, "/api/admin/backups").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method}: {text}");
            let (status, text) = h.call(Some(&developer), method, "/api/admin/backups").await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method}: {text}");
            assert!(text.contains("\"code\":\"forbidden\""), "{text}");
        }
        assert!(
            h.state
                .backups()
                .list(&Principal::System)
                .await
                .unwrap()
                .is_empty()
        );
        let bad = h
            .admin(
                "GET",
                "/api/admin/backups?limit=0",
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(bad["error"]["code"], "validation_failed");
    }
);

#[tokio::test]
async fn a_backup_while_another_runs_is_409() {
    let db = trae_storage::testing::TestDatabase::sqlite();
    let h = harness(&db.url, 7).await;
    std::fs::create_dir_all(h.backup_dir()).unwrap();
    let held = std::fs::File::create(h.backup_dir().join(LOCK_FILE)).unwrap();
    held.try_lock().unwrap();
    let busy = h
        .admin("POST", "/api/admin/backups", StatusCode::CONFLICT)
        .await;
    assert_eq!(busy["error"]["code"], "conflict");
    assert!(
        busy["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already running"),
        "{busy}"
    );
    drop(held);
    h.admin("POST", "/api/admin/backups", StatusCode::CREATED)
        .await;
}

storage_test!(
    scheduled_runs_keep_the_newest_and_never_touch_manual_backups,
    |url: String| async move {
        if !can_back_up(&url) {
            return;
        }
        let h = harness(&url, 2).await;
        let manual = h
            .admin("POST", "/api/admin/backups", StatusCode::CREATED)
            .await;
        let mut scheduled = Vec::new();
        for _ in 0..3 {
            let run = h.state.backups().run_scheduled().await.unwrap();
            scheduled.push(run.created.file_name);
        }
        let page = h.admin("GET", "/api/admin/backups", StatusCode::OK).await;
        assert_eq!(page["total"], 3, "{page}");
        assert_eq!(
            file_names(&page),
            [
                scheduled[2].clone(),
                scheduled[1].clone(),
                manual["file_name"].as_str().unwrap().to_owned()
            ]
        );
        let only = h
            .admin("GET", "/api/admin/backups?kind=scheduled", StatusCode::OK)
            .await;
        assert_eq!(
            file_names(&only),
            [scheduled[2].clone(), scheduled[1].clone()]
        );
        assert!(
            only["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["kind"] == "scheduled")
        );
        let second = h
            .admin("GET", "/api/admin/backups?limit=1&offset=1", StatusCode::OK)
            .await;
        assert_eq!(
            (&second["total"], file_names(&second)),
            (&3.into(), vec![scheduled[1].clone()])
        );

        // The scheduled ones are on record as the system's.
        let audit = h
            .admin("GET", "/api/audit?action=backup.create", StatusCode::OK)
            .await;
        assert_eq!(audit["total"], 4);
        assert_eq!(audit["items"][0]["actor"]["kind"], "system");
        assert_eq!(audit["items"][0]["details"]["kind"], "scheduled");
    }
);
