//! Nodes starting together on a fresh database: each opens the composition root and
//! bootstraps the first admin at once; every one must start, and exactly one admin exists.

use std::collections::HashMap;

use trae_agents::Trae;
use trae_core::Config;
use trae_storage::storage_test;

const NODES: usize = 6;

fn config(url: &str, dir: &std::path::Path) -> Config {
    let env: HashMap<&str, String> = HashMap::from([
        ("TRAE_DATABASE_URL", url.to_owned()),
        ("TRAE_DATA_DIR", dir.display().to_string()),
        (
            "TRAE_MASTER_KEY",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=".to_owned(),
        ),
        ("TRAE_ADMIN_USERNAME", "root".to_owned()),
        (
            "TRAE_ADMIN_PASSWORD",
            "correct horse battery staple".to_owned(),
        ),
    ]);
    Config::from_sources(|k| env.get(k).cloned()).expect("config")
}

storage_test!(
    nodes_starting_together_make_one_admin,
    |url: String| async move {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..3 {
            let starts = (0..NODES).map(|_| {
                let config = config(&url, dir.path());
                tokio::spawn(async move {
                    let trae = Trae::open(config)
                        .await
                        .map_err(|e| format!("opening: {e}"))?;
                    let admin = trae
                        .bootstrap_admin()
                        .await
                        .map_err(|e| format!("bootstrapping the admin: {e}"));
                    trae.close().await;
                    admin
                })
            });
            let mut created = 0;
            for start in futures_util::future::join_all(starts).await {
                match start.expect("node task") {
                    Ok(Some(admin)) => {
                        assert_eq!(admin.username, "root");
                        created += 1;
                    }
                    Ok(None) => {}
                    Err(e) => panic!("round {round}: a node failed to start: {e}"),
                }
            }
            let expected = usize::from(round == 0);
            assert_eq!(created, expected, "round {round}: admins created");
        }
    }
);
