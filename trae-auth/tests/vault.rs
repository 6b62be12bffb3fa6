//! The secrets vault on SQLite and PostgreSQL: versions, envelope encryption under tampering
//! and swapped rows, wrong and lost master keys, rotation with an overlap, and no plaintext at
//! rest.

use sqlx::Connection as _;
use trae_auth::{MasterKey, MasterKeySource, RequestMeta, SecretValue, SetSecret, Vault};
use trae_core::{AuditFilter, Error, PageRequest, Principal, SecretFilter};
use trae_storage::{Store, storage_test};

fn meta() -> RequestMeta {
    RequestMeta::default()
}

fn sys() -> Principal {
    Principal::System
}

async fn vault(store: &Store, key: &MasterKey) -> Vault {
    Vault::open_with_key(store.secret_repository(), key.clone(), store.clock())
        .await
        .unwrap()
        .with_audit(store.audit())
}

async fn set(vault: &Vault, name: &str, value: &str) -> u32 {
    vault
        .set(&sys(), name, SetSecret::value(value), &meta())
        .await
        .unwrap()
        .version
}

async fn reveal(vault: &Vault, name: &str, version: Option<u32>) -> Result<String, Error> {
    vault
        .get(&sys(), name, version, &meta())
        .await
        .map(|s| s.value.expose_str().unwrap().to_owned())
}

/// Runs raw SQL (no parameters) on the database at `url`.
async fn exec(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

/// The single integer `sql` selects on the database at `url`.
async fn count(url: &str, sql: &str) -> i64 {
    use sqlx::Row as _;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let n = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        conn.close().await.unwrap();
        n
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let n = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        conn.close().await.unwrap();
        n
    }
}

/// Reads one blob column with `select`, flips its last byte, and writes it back with
/// `update` (whose `$1` is the blob).
async fn flip_last_byte(url: &str, select: &str, update: &str) {
    use sqlx::Row as _;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let mut blob: Vec<u8> = sqlx::query(sqlx::AssertSqlSafe(select.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        *blob.last_mut().unwrap() ^= 1;
        sqlx::query(sqlx::AssertSqlSafe(update.to_owned()))
            .bind(blob)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let mut blob: Vec<u8> = sqlx::query(sqlx::AssertSqlSafe(select.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        *blob.last_mut().unwrap() ^= 1;
        sqlx::query(sqlx::AssertSqlSafe(update.to_owned()))
            .bind(blob)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

fn assert_undecryptable(err: &Error, name: &str) {
    let text = err.to_string();
    assert!(
        matches!(err, Error::Storage(_))
            && text.contains("cannot be decrypted")
            && text.contains(name),
        "unexpected error: {err:?}"
    );
}

storage_test!(set_get_list_delete_prune, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let key = MasterKey::generate().unwrap();
    let v = vault(&store, &key).await;

    let created = v
        .set(
            &sys(),
            "OPENAI_API_KEY",
            SetSecret {
                value: "sk-first-value".into(),
                description: Some("the OpenAI key".into()),
                tags: Some(vec!["prod".into(), "llm".into()]),
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.tags, vec!["llm".to_owned(), "prod".to_owned()]);
    assert_eq!(created.created_by, "system");
    assert_eq!(set(&v, "OPENAI_API_KEY", "sk-second-value").await, 2);
    assert_eq!(set(&v, "OPENAI_API_KEY", "sk-third-value").await, 3);
    set(&v, "db.password", "hunter2-db").await;

    // Latest and by version; metadata kept when a set names none.
    assert_eq!(
        reveal(&v, "OPENAI_API_KEY", None).await.unwrap(),
        "sk-third-value"
    );
    assert_eq!(
        reveal(&v, "OPENAI_API_KEY", Some(1)).await.unwrap(),
        "sk-first-value"
    );
    let revealed = v
        .get(&sys(), "OPENAI_API_KEY", Some(2), &meta())
        .await
        .unwrap();
    assert_eq!(revealed.version, 2);
    let debug = format!("{revealed:?}");
    assert!(
        !debug.contains("sk-second-value") && debug.contains("redacted"),
        "{debug}"
    );
    assert_eq!(
        format!("{:?}", SecretValue::from("x-y-z")),
        "SecretValue([redacted])"
    );
    let described = v.describe(&sys(), "OPENAI_API_KEY").await.unwrap();
    assert_eq!(described.version, 3);
    assert_eq!(described.description.as_deref(), Some("the OpenAI key"));
    assert_eq!(described.tags.len(), 2);
    assert!(matches!(
        v.get(&sys(), "OPENAI_API_KEY", Some(9), &meta()).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        v.get(&sys(), "missing", None, &meta()).await,
        Err(Error::NotFound { .. })
    ));
    for bad in [".hidden", "a b", ""] {
        assert!(matches!(
            v.set(&sys(), bad, SetSecret::value("x"), &meta()).await,
            Err(Error::Validation { .. })
        ));
    }
    assert!(matches!(
        v.set(&sys(), "empty", SetSecret::value(""), &meta()).await,
        Err(Error::Validation { .. })
    ));

    // Lists: metadata only, filters by prefix and tag.
    let all = v
        .list(&sys(), &SecretFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.total, 2);
    assert_eq!(all.items[0].name, "OPENAI_API_KEY");
    let listed = serde_json::to_string(&all).unwrap();
    for value in [
        "sk-first-value",
        "sk-second-value",
        "sk-third-value",
        "hunter2-db",
    ] {
        assert!(!listed.contains(value), "{listed}");
    }
    let tagged = SecretFilter {
        tag: Some("prod".into()),
        ..SecretFilter::default()
    };
    assert_eq!(
        v.list(&sys(), &tagged, PageRequest::default())
            .await
            .unwrap()
            .total,
        1
    );
    let prefixed = SecretFilter {
        prefix: Some("db.".into()),
        ..SecretFilter::default()
    };
    let page = v
        .list(&sys(), &prefixed, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["db.password"]
    );

    // Prune keeps the newest versions.
    assert!(v.prune(&sys(), "OPENAI_API_KEY", 0, &meta()).await.is_err());
    assert_eq!(
        v.prune(&sys(), "OPENAI_API_KEY", 2, &meta()).await.unwrap(),
        1
    );
    let versions = v.versions(&sys(), "OPENAI_API_KEY").await.unwrap();
    assert_eq!(
        versions.iter().map(|x| x.version).collect::<Vec<_>>(),
        [3, 2]
    );
    assert!(matches!(
        v.get(&sys(), "OPENAI_API_KEY", Some(1), &meta()).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        reveal(&v, "OPENAI_API_KEY", Some(2)).await.unwrap(),
        "sk-second-value"
    );
    assert_eq!(set(&v, "OPENAI_API_KEY", "sk-fourth-value").await, 4);

    // Delete removes every version.
    assert_eq!(
        v.delete(&sys(), "OPENAI_API_KEY", &meta()).await.unwrap(),
        3
    );
    assert!(matches!(
        v.get(&sys(), "OPENAI_API_KEY", None, &meta()).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        v.delete(&sys(), "OPENAI_API_KEY", &meta()).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(set(&v, "OPENAI_API_KEY", "sk-again").await, 1);

    // The audit log names secrets and versions, never values.
    let entries = store
        .audit()
        .list(
            AuditFilter::default(),
            PageRequest::new(Some(500), None).unwrap(),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = entries.items.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "secret.set",
        "secret.reveal",
        "secret.delete",
        "secret.prune",
    ] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    let text = serde_json::to_string(&entries.items).unwrap();
    for value in [
        "sk-first-value",
        "sk-second-value",
        "sk-third-value",
        "sk-fourth",
        "hunter2",
    ] {
        assert!(!text.contains(value), "{text}");
    }
    store.close().await;
});

storage_test!(
    concurrent_sets_get_distinct_versions,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let v = vault(&store, &MasterKey::generate().unwrap()).await;
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let v = v.clone();
                tokio::spawn(async move { set(&v, "shared", &format!("value-{i}")).await })
            })
            .collect();
        let mut versions = Vec::new();
        for t in tasks {
            versions.push(t.await.unwrap());
        }
        versions.sort_unstable();
        assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
        for version in 1..=6 {
            assert!(
                reveal(&v, "shared", Some(version))
                    .await
                    .unwrap()
                    .starts_with("value-")
            );
        }
        store.close().await;
    }
);

storage_test!(
    tampered_ciphertext_and_wrapped_key_fail_clearly,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let v = vault(&store, &MasterKey::generate().unwrap()).await;
        set(&v, "alpha", "alpha-value").await;
        set(&v, "beta", "beta-value").await;

        flip_last_byte(
            &url,
            "SELECT ciphertext FROM secret_versions WHERE name = 'alpha'",
            "UPDATE secret_versions SET ciphertext = $1 WHERE name = 'alpha'",
        )
        .await;
        let err = v.get(&sys(), "alpha", None, &meta()).await.unwrap_err();
        assert_undecryptable(&err, "alpha");
        assert!(!err.to_string().contains("alpha-value"));

        flip_last_byte(
            &url,
            "SELECT wrapped FROM secret_keys WHERE name = 'beta'",
            "UPDATE secret_keys SET wrapped = $1 WHERE name = 'beta'",
        )
        .await;
        assert_undecryptable(
            &v.get(&sys(), "beta", None, &meta()).await.unwrap_err(),
            "beta",
        );
        store.close().await;
    }
);

storage_test!(swapped_rows_fail_clearly, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let v = vault(&store, &MasterKey::generate().unwrap()).await;
    set(&v, "alpha", "alpha-v1").await;
    set(&v, "alpha", "alpha-v2").await;
    set(&v, "beta", "beta-v1").await;
    set(&v, "gamma", "gamma-v1").await;

    // Another secret's ciphertext and wrapped key, copied whole onto beta.
    exec(
        &url,
        "UPDATE secret_versions SET ciphertext = \
           (SELECT ciphertext FROM secret_versions WHERE name = 'alpha' AND version = 1) \
         WHERE name = 'beta' AND version = 1; \
         UPDATE secret_keys SET wrapped = \
           (SELECT wrapped FROM secret_keys WHERE name = 'alpha' AND version = 1) \
         WHERE name = 'beta' AND version = 1;",
    )
    .await;
    assert_undecryptable(
        &v.get(&sys(), "beta", None, &meta()).await.unwrap_err(),
        "beta",
    );

    // Version 1 copied onto version 2 of the same secret.
    exec(
        &url,
        "UPDATE secret_versions SET ciphertext = \
           (SELECT ciphertext FROM secret_versions WHERE name = 'alpha' AND version = 1) \
         WHERE name = 'alpha' AND version = 2; \
         UPDATE secret_keys SET wrapped = \
           (SELECT wrapped FROM secret_keys WHERE name = 'alpha' AND version = 1) \
         WHERE name = 'alpha' AND version = 2;",
    )
    .await;
    assert_undecryptable(
        &v.get(&sys(), "alpha", Some(2), &meta()).await.unwrap_err(),
        "alpha",
    );
    assert_eq!(reveal(&v, "alpha", Some(1)).await.unwrap(), "alpha-v1");

    // Only the ciphertext moved (the data key stays gamma's): still refused.
    exec(
        &url,
        "UPDATE secret_versions SET ciphertext = \
           (SELECT ciphertext FROM secret_versions WHERE name = 'alpha' AND version = 1) \
         WHERE name = 'gamma' AND version = 1;",
    )
    .await;
    assert_undecryptable(
        &v.get(&sys(), "gamma", None, &meta()).await.unwrap_err(),
        "gamma",
    );
    store.close().await;
});

storage_test!(a_wrong_master_key_fails_at_open, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let right = MasterKey::generate().unwrap();
    let v = vault(&store, &right).await;
    set(&v, "alpha", "alpha-value").await;

    let wrong = MasterKey::generate().unwrap();
    let err = Vault::open_with_key(store.secret_repository(), wrong.clone(), store.clock())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        text.contains("wrong secrets master key")
            && text.contains(wrong.id())
            && text.contains(right.id()),
        "{text}"
    );

    // A configured key that is not base64 of 32 bytes is refused without being quoted.
    let source = MasterKeySource::Configured(trae_core::SecretString::new("c2hvcnQ="));
    let err = Vault::open(store.secret_repository(), &source, store.clock())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(_)) && !err.to_string().contains("c2hvcnQ="),
        "{err:?}"
    );

    // The right key still opens, also through a configured source.
    let source = MasterKeySource::Configured(right.to_base64());
    let again = Vault::open(store.secret_repository(), &source, store.clock())
        .await
        .unwrap();
    assert_eq!(reveal(&again, "alpha", None).await.unwrap(), "alpha-value");
    store.close().await;
});

storage_test!(
    rotation_keeps_old_readers_until_retired,
    |url: String| async move {
        // Two "nodes" on one database, both holding the first key.
        let node_a = Store::connect(&url).await.unwrap();
        let node_b = Store::connect(&url).await.unwrap();
        let k1 = MasterKey::generate().unwrap();
        let a = vault(&node_a, &k1).await;
        let b = vault(&node_b, &k1).await;
        for i in 0..5 {
            set(&a, &format!("s{i}"), &format!("value-{i}-v1")).await;
            set(&a, &format!("s{i}"), &format!("value-{i}-v2")).await;
        }

        // Readers on node B keep reading while node A rotates.
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move {
                    for round in 0..30 {
                        let i = round % 5;
                        assert_eq!(
                            reveal(&b, &format!("s{i}"), None).await.unwrap(),
                            format!("value-{i}-v2")
                        );
                    }
                })
            })
            .collect();
        let k2 = MasterKey::generate().unwrap();
        let report = a
            .rotate_master_key(&sys(), k2.clone(), &meta())
            .await
            .unwrap();
        for r in readers {
            r.await.unwrap();
        }
        assert_eq!(
            (report.from.as_str(), report.to.as_str()),
            (k1.id(), k2.id())
        );
        assert_eq!(report.rewrapped, 10);
        assert!(report.retired.is_empty());
        assert_eq!(a.master_key_id(), k2.id());

        // Every version is wrapped by both keys during the overlap.
        for id in [k1.id(), k2.id()] {
            let sql = format!("SELECT COUNT(*) FROM secret_keys WHERE master_key_id = '{id}'");
            assert_eq!(count(&url, &sql).await, 10);
        }
        let keys = a.master_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[1].current && keys[1].loaded && keys[1].id == k2.id());
        assert_eq!(reveal(&a, "s3", Some(1)).await.unwrap(), "value-3-v1");
        assert_eq!(reveal(&b, "s3", Some(1)).await.unwrap(), "value-3-v1");
        // The old key still opens (overlap) but cannot write.
        let late = vault(&node_b, &k1).await;
        assert_eq!(reveal(&late, "s0", None).await.unwrap(), "value-0-v2");
        let err = b
            .set(&sys(), "s0", SetSecret::value("from-old-node"), &meta())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(_)) && err.to_string().contains("rotated"),
            "{err:?}"
        );
        // New writes use the new key; only the rotating principal may rotate.
        set(&a, "s0", "value-0-v3").await;
        let user = Principal::User {
            user_id: uuid::Uuid::new_v4(),
            username: None,
            session_id: None,
            roles: vec!["admin".into()],
        };
        assert!(matches!(
            a.rotate_master_key(&user, MasterKey::generate().unwrap(), &meta())
                .await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            a.retire_master_key(&sys(), k2.id(), &meta()).await,
            Err(Error::Conflict(_))
        ));

        // After the old key is retired, its holder gets a clear error.
        assert_eq!(
            a.retire_master_key(&sys(), k1.id(), &meta()).await.unwrap(),
            10
        );
        let err = b.get(&sys(), "s1", None, &meta()).await.unwrap_err();
        assert!(
            matches!(err, Error::Config(_))
                && err.to_string().contains("retired")
                && err.to_string().contains(k2.id()),
            "{err:?}"
        );
        let err = Vault::open_with_key(node_b.secret_repository(), k1.clone(), node_b.clock())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("wrong secrets master key"),
            "{err:?}"
        );
        // Loading the new key on node B brings it back.
        b.load_master_key(k2.clone()).await.unwrap();
        assert_eq!(reveal(&b, "s0", None).await.unwrap(), "value-0-v3");
        assert_eq!(reveal(&b, "s4", Some(1)).await.unwrap(), "value-4-v1");

        // The next rotation retires keys older than the one it rotates from.
        let k3 = MasterKey::generate().unwrap();
        a.rotate_master_key(&sys(), k3.clone(), &meta())
            .await
            .unwrap();
        let k4 = MasterKey::generate().unwrap();
        let report = a
            .rotate_master_key(&sys(), k4.clone(), &meta())
            .await
            .unwrap();
        assert_eq!(report.retired, vec![k2.id().to_owned()]);
        assert_eq!(a.master_keys().await.unwrap().len(), 2);
        assert_eq!(reveal(&a, "s2", Some(2)).await.unwrap(), "value-2-v2");

        let entries = node_a
            .audit()
            .list(AuditFilter::default(), PageRequest::default())
            .await
            .unwrap();
        assert!(
            entries
                .items
                .iter()
                .any(|e| e.action == "secret.master_key.rotate")
        );
        assert!(
            entries
                .items
                .iter()
                .any(|e| e.action == "secret.master_key.retire")
        );
        node_a.close().await;
        node_b.close().await;
    }
);

storage_test!(rotation_is_one_transaction, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let k1 = MasterKey::generate().unwrap();
    let v = vault(&store, &k1).await;
    for name in ["a", "b", "c", "d"] {
        set(&v, name, &format!("{name}-value")).await;
    }
    // One wrapped key in the middle no longer authenticates: the rotation must fail whole.
    flip_last_byte(
        &url,
        "SELECT wrapped FROM secret_keys WHERE name = 'c'",
        "UPDATE secret_keys SET wrapped = $1 WHERE name = 'c'",
    )
    .await;
    let k2 = MasterKey::generate().unwrap();
    let err = v
        .rotate_master_key(&sys(), k2.clone(), &meta())
        .await
        .unwrap_err();
    assert_undecryptable(&err, "c");
    assert_eq!(v.master_key_id(), k1.id());
    let keys = v.master_keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        [k1.id()]
    );
    // No wrapping under the new key was left behind, and the old key still works.
    let under_k2 = format!(
        "SELECT COUNT(*) FROM secret_keys WHERE master_key_id = '{}'",
        k2.id()
    );
    assert_eq!(count(&url, &under_k2).await, 0);
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM secret_master_keys").await,
        1
    );
    assert_eq!(count(&url, "SELECT COUNT(*) FROM secret_keys").await, 4);
    assert_eq!(reveal(&v, "a", None).await.unwrap(), "a-value");
    let err = Vault::open_with_key(store.secret_repository(), k2, store.clock())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("wrong secrets master key"),
        "{err:?}"
    );
    store.close().await;
});

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_key_file_is_private_and_never_silently_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("trae.db").display());
    let key_file = dir.path().join("master.key");
    let source = MasterKeySource::KeyFile(key_file.clone());
    let store = Store::connect(&url).await.unwrap();

    let v = Vault::open(store.secret_repository(), &source, store.clock())
        .await
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let on_disk = MasterKey::from_base64(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    assert_eq!(on_disk.id(), v.master_key_id());
    set(&v, "alpha", "alpha-value").await;

    // Reopening reads the same file.
    let again = Vault::open(store.secret_repository(), &source, store.clock())
        .await
        .unwrap();
    assert_eq!(reveal(&again, "alpha", None).await.unwrap(), "alpha-value");

    // A lost key file is an error naming the problem, not a new key.
    std::fs::remove_file(&key_file).unwrap();
    let err = Vault::open(store.secret_repository(), &source, store.clock())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        text.contains("missing") && text.contains("refusing to generate"),
        "{text}"
    );
    assert!(!key_file.exists(), "a new key file was written");

    // Even with every secret deleted, the installed key is not replaced.
    std::fs::write(&key_file, format!("{}\n", on_disk.to_base64().expose())).unwrap();
    v.delete(&sys(), "alpha", &meta()).await.unwrap();
    std::fs::remove_file(&key_file).unwrap();
    assert!(
        Vault::open(store.secret_repository(), &source, store.clock())
            .await
            .is_err()
    );

    // Rotation from a key-file vault replaces the file (still 0600) with the new key.
    std::fs::write(&key_file, format!("{}\n", on_disk.to_base64().expose())).unwrap();
    let v = Vault::open(store.secret_repository(), &source, store.clock())
        .await
        .unwrap();
    let k2 = MasterKey::generate().unwrap();
    v.rotate_master_key(&sys(), k2.clone(), &meta())
        .await
        .unwrap();
    let rotated = MasterKey::from_base64(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    assert_eq!(rotated.id(), k2.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_holds_no_secret_value_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("trae.db").display());
    let store = Store::connect(&url).await.unwrap();
    let key = MasterKey::generate().unwrap();
    let v = vault(&store, &key).await;
    let value = "ZEBRA-plaintext-canary-7f3a9c-ZEBRA";
    set(&v, "canary", value).await;
    set(&v, "canary", &format!("{value}-v2")).await;
    assert_eq!(
        reveal(&v, "canary", None).await.unwrap(),
        format!("{value}-v2")
    );

    // Before a checkpoint the rows live in the -wal file; search it too.
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.clone(), std::fs::read(&path).unwrap()));
    }
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().ends_with("-wal")),
        "no WAL file"
    );
    let key_b64 = key.to_base64();
    for (path, bytes) in &files {
        assert!(
            !contains(bytes, value.as_bytes()),
            "{} holds the value",
            path.display()
        );
        assert!(
            !contains(bytes, key_b64.expose().as_bytes()),
            "{} holds the master key",
            path.display()
        );
    }
    // The secret's name is stored (so the test searches the right files).
    assert!(files.iter().any(|(_, b)| contains(b, b"canary")));

    // After a checkpoint and close, the main file alone.
    exec(&url, "PRAGMA wal_checkpoint(TRUNCATE);").await;
    store.close().await;
    let db = std::fs::read(dir.path().join("trae.db")).unwrap();
    assert!(contains(&db, b"canary"));
    assert!(!contains(&db, value.as_bytes()));
}

storage_test!(
    binding_a_secret_needs_the_right_to_use_it,
    |url: String| async move {
        use trae_core::{BindingRight, SecretReader};
        let store = Store::connect(&url).await.unwrap();
        let vault = vault(&store, &MasterKey::generate().unwrap())
            .await
            .with_rbac(trae_auth::Rbac::new(store.role_repository()));
        let user = |role: &str| Principal::User {
            user_id: uuid::Uuid::new_v4(),
            username: None,
            session_id: None,
            roles: vec![role.into()],
        };
        let (dev, admin) = (user("developer"), user("admin"));
        set(&vault, "ADMIN_KEY", "admin-value").await;
        vault
            .set(&dev, "DEV_KEY", SetSecret::value("dev-value"), &meta())
            .await
            .unwrap();

        // Someone else's secret, or one that does not exist yet, is refused to a developer.
        for name in ["ADMIN_KEY", "NOT_YET"] {
            let err = vault.bind_secret(&dev, name).await.unwrap_err();
            assert!(
                matches!(&err, Error::Forbidden(m) if m.contains("secrets:use")),
                "{name}: {err:?}"
            );
        }
        let own = vault.bind_secret(&dev, "DEV_KEY").await.unwrap();
        assert_eq!(own.right, BindingRight::Authorship);
        let any = vault.bind_secret(&admin, "ADMIN_KEY").await.unwrap();
        assert_eq!(any.right, BindingRight::Permission);
        assert_eq!(vault.read_secret(&own).await.unwrap().expose(), "dev-value");

        // A new value from someone else ends a binding made on authorship, not one made on
        // permission.
        set(&vault, "DEV_KEY", "rotated-by-admin").await;
        let err = vault.read_secret(&own).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        let by_admin = vault.bind_secret(&admin, "DEV_KEY").await.unwrap();
        assert_eq!(
            vault.read_secret(&by_admin).await.unwrap().expose(),
            "rotated-by-admin"
        );
        assert!(vault.bind_secret(&dev, "DEV_KEY").await.is_err());
    }
);
