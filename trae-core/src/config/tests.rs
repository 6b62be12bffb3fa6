use super::*;
use std::collections::HashMap;

fn load(dir: &Path, vars: &[(&str, &str)]) -> Result<Config> {
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.insert("TRAE_DATA_DIR".into(), dir.display().to_string());
    Config::from_sources(|name| env.get(name).cloned())
}

#[test]
fn defaults_work_without_any_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(dir.path(), &[]).unwrap();
    assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(
        config.database_url,
        format!("sqlite://{}/trae.db?mode=rwc", dir.path().display())
    );
    assert_eq!(config.log, "info");
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.max_body_bytes, 1024 * 1024);
    assert_eq!(config.database_backend(), DatabaseBackend::Sqlite);
}

#[test]
fn the_data_directory_is_beside_a_named_sqlite_file_unless_set() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("srv").join("trae.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(db.parent().unwrap().join(CONFIG_FILE), "log = \"debug\"\n").unwrap();
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let from_env =
        Config::from_sources(|name| (name == "TRAE_DATABASE_URL").then(|| url.clone())).unwrap();
    assert_eq!(from_env.data_dir, db.parent().unwrap());
    assert_eq!(
        from_env.log, "debug",
        "trae.toml is read beside the database"
    );
    let overridden = Config::from_sources_with(
        |_| None,
        &ConfigOverrides {
            database_url: Some(url.clone()),
            ..ConfigOverrides::default()
        },
    )
    .unwrap();
    assert_eq!(overridden.data_dir, from_env.data_dir);
    assert_eq!(overridden.database_url, url);
    let explicit = Config::from_sources_with(
        |name| (name == "TRAE_DATA_DIR").then(|| dir.path().display().to_string()),
        &ConfigOverrides {
            database_url: Some(url),
            ..ConfigOverrides::default()
        },
    )
    .unwrap();
    assert_eq!(explicit.data_dir, dir.path(), "TRAE_DATA_DIR wins");
    assert_eq!(explicit.log, "info");
}

#[test]
fn sqlite_file_names_files_not_memory() {
    assert_eq!(
        sqlite_file("sqlite:///a/b.db?mode=rwc"),
        Some(PathBuf::from("/a/b.db"))
    );
    assert_eq!(sqlite_file("sqlite:b.db"), Some(PathBuf::from("b.db")));
    assert_eq!(sqlite_file("sqlite::memory:"), None);
    assert_eq!(sqlite_file("sqlite://x.db?mode=memory&cache=shared"), None);
    assert_eq!(sqlite_file("postgres://h/db"), None);
}

#[test]
fn backup_and_metrics_settings_have_defaults_and_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(dir.path(), &[]).unwrap();
    assert_eq!(config.backup.interval_hours, 24);
    assert_eq!(config.backup.keep, 7);
    assert_eq!(config.backup.dir, dir.path().join("backups"));
    assert!(config.metrics.open_to.is_empty());

    let config = load(
        dir.path(),
        &[
            ("TRAE_BACKUP_INTERVAL_HOURS", "0"),
            ("TRAE_BACKUP_KEEP", "3"),
            ("TRAE_METRICS_OPEN_TO", "10.0.0.0/8, 192.168.1.7"),
        ],
    )
    .unwrap();
    assert_eq!(config.backup.interval_hours, 0);
    assert_eq!(config.backup.keep, 3);
    assert_eq!(config.metrics.open_to.len(), 2);

    let err = load(dir.path(), &[("TRAE_BACKUP_KEEP", "0")]).unwrap_err();
    assert!(err.to_string().contains("TRAE_BACKUP_KEEP"), "{err}");
    let err = load(dir.path(), &[("TRAE_METRICS_OPEN_TO", "everyone")]).unwrap_err();
    assert!(err.to_string().contains("TRAE_METRICS_OPEN_TO"), "{err}");
}

#[test]
fn health_rules_come_from_the_environment_and_the_file_in_order() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        load(dir.path(), &[]).unwrap().health,
        HealthRules::default()
    );

    std::fs::write(dir.path().join(CONFIG_FILE), "health_critical_after = 20\n").unwrap();
    let config = load(
        dir.path(),
        &[
            ("TRAE_HEALTH_DEGRADED_AFTER", "2"),
            ("TRAE_HEALTH_FAILING_AFTER", "5"),
        ],
    )
    .unwrap();
    assert_eq!(
        (
            config.health.degraded_after,
            config.health.failing_after,
            config.health.critical_after
        ),
        (2, 5, 20)
    );
    assert_eq!(
        config.health.slow_percent,
        HealthRules::default().slow_percent
    );

    // Failing before degraded would skip a status.
    let err = load(
        dir.path(),
        &[
            ("TRAE_HEALTH_DEGRADED_AFTER", "4"),
            ("TRAE_HEALTH_FAILING_AFTER", "3"),
        ],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("TRAE_HEALTH_FAILING_AFTER must be between 4 and 1000"),
        "{err}"
    );
    let err = load(dir.path(), &[("TRAE_HEALTH_DEGRADED_AFTER", "0")]).unwrap_err();
    assert!(
        err.to_string().contains("TRAE_HEALTH_DEGRADED_AFTER"),
        "{err}"
    );
}

#[test]
fn environment_wins_over_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(CONFIG_FILE),
        "log = \"debug\"\nbind = \"0.0.0.0:9000\"\nmax_body_bytes = 2048\n",
    )
    .unwrap();
    let from_file = load(dir.path(), &[]).unwrap();
    assert_eq!(from_file.log, "debug");
    assert_eq!(from_file.bind.to_string(), "0.0.0.0:9000");
    assert_eq!(from_file.max_body_bytes, 2048);

    let overridden = load(dir.path(), &[("TRAE_LOG", "warn"), ("PORT", "9100")]).unwrap();
    assert_eq!(overridden.log, "warn");
    assert_eq!(
        overridden.bind.to_string(),
        "0.0.0.0:9100",
        "PORT replaces only the port"
    );
}

#[test]
fn trae_bind_wins_over_port() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(
        dir.path(),
        &[("TRAE_BIND", "127.0.0.1:7000"), ("PORT", "9100")],
    )
    .unwrap();
    assert_eq!(config.bind.to_string(), "127.0.0.1:7000");
}

#[test]
fn invalid_values_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (("TRAE_BIND", "nonsense"), "TRAE_BIND"),
        (("PORT", "99999"), "PORT"),
        (("TRAE_LOG_FORMAT", "xml"), "TRAE_LOG_FORMAT"),
        (("TRAE_MAX_BODY_BYTES", "lots"), "TRAE_MAX_BODY_BYTES"),
        (("TRAE_MAX_BODY_BYTES", "0"), "TRAE_MAX_BODY_BYTES"),
        (("TRAE_DATABASE_URL", "mysql://x"), "TRAE_DATABASE_URL"),
    ];
    for ((var, value), needle) in cases {
        let err = load(dir.path(), &[(var, value)]).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{var}={value}: {err}");
        assert!(err.to_string().contains(needle), "{var}={value}: {err}");
    }
}

#[test]
fn unknown_file_keys_are_rejected_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(CONFIG_FILE), "datbase_url = \"x\"\n").unwrap();
    let err = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(err.contains("trae.toml"), "{err}");
    assert!(err.contains("datbase_url"), "{err}");
}

#[test]
fn auth_settings_parse_and_refuse_weak_or_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(dir.path(), &[]).unwrap();
    assert!(c.auth.registration_open);
    assert_eq!(c.auth.access_token_ttl_secs, 900);
    assert_eq!(c.auth.password_memory_kib, 19 * 1024);
    let c = load(
        dir.path(),
        &[
            ("TRAE_REGISTRATION", "closed"),
            ("TRAE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
            ("TRAE_SESSION_CACHE_SECS", "0"),
            ("TRAE_ADMIN_PASSWORD", "hunter2hunter2"),
        ],
    )
    .unwrap();
    assert!(!c.auth.registration_open);
    assert_eq!(c.auth.trusted_proxies.len(), 2);
    assert_eq!(c.auth.session_cache_secs, 0);
    assert!(!format!("{c:?}").contains("hunter2"));
    for (var, value, needle) in [
        ("TRAE_REGISTRATION", "maybe", "TRAE_REGISTRATION"),
        (
            "TRAE_PASSWORD_MEMORY_KIB",
            "1024",
            "TRAE_PASSWORD_MEMORY_KIB",
        ),
        ("TRAE_PASSWORD_ITERATIONS", "1", "TRAE_PASSWORD_ITERATIONS"),
        ("TRAE_ACCESS_TOKEN_TTL_SECS", "soon", "whole number"),
        (
            "TRAE_TRUSTED_PROXIES",
            "10.0.0.0/33",
            "TRAE_TRUSTED_PROXIES",
        ),
    ] {
        let err = load(dir.path(), &[(var, value)]).unwrap_err().to_string();
        assert!(err.contains(needle), "{var}={value}: {err}");
    }
}

#[test]
fn summary_hides_secrets_and_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(
        dir.path(),
        &[
            (
                "TRAE_DATABASE_URL",
                "postgres://trae:hunter2hunter2@db:5432/trae",
            ),
            ("TRAE_JWT_SECRET", "topsecretvalue"),
        ],
    )
    .unwrap();
    let shown = serde_json::to_string(&config.summary()).unwrap();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("topsecretvalue"), "{shown}");
    assert!(shown.contains("\"jwt_secret_configured\":true"), "{shown}");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("topsecretvalue") && !debug.contains("hunter2"),
        "{debug}"
    );
}

#[test]
fn task_and_outbound_settings_load_and_refuse_nonsense() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = load(dir.path(), &[]).unwrap();
    assert_eq!(defaults.tasks, TaskConfig::default());
    assert_eq!(defaults.outbound, OutboundConfig::default());
    let c = load(
        dir.path(),
        &[
            ("TRAE_TASK_LEASE_SECS", "60"),
            ("TRAE_TASK_RETENTION_HOURS", "0"),
            ("TRAE_QUEUE_MAX_BACKLOG", "0"),
            (
                "TRAE_OUTBOUND_ALLOW_HOSTS",
                " API.example.com, *.svc.local ,",
            ),
            ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "true"),
            ("TRAE_OUTBOUND_TIMEOUT_MS", "2500"),
            ("TRAE_LLM_LOG_CONTENT", "true"),
            ("TRAE_AGENT_WORKSPACES", "/srv/projects: /home/dev/code:"),
            ("TRAE_AGENT_WRITABLE", "/home/dev/.cargo"),
        ],
    )
    .unwrap();
    assert!(c.llm_log_content);
    assert!(
        defaults.agent_workspaces.is_empty(),
        "no project is allowed by default"
    );
    assert_eq!(
        c.agent_workspaces,
        vec![
            PathBuf::from("/srv/projects"),
            PathBuf::from("/home/dev/code")
        ]
    );
    assert_eq!(c.agent_writable, vec![PathBuf::from("/home/dev/.cargo")]);
    assert!(defaults.agent_writable.is_empty());
    let relative = load(dir.path(), &[("TRAE_AGENT_WRITABLE", "cargo")]);
    assert!(matches!(relative, Err(Error::Config(m)) if m.contains("TRAE_AGENT_WRITABLE")));
    let relative = load(dir.path(), &[("TRAE_AGENT_WORKSPACES", "projects")]);
    assert!(matches!(relative, Err(Error::Config(m)) if m.contains("absolute")));
    assert!(
        !defaults.llm_log_content,
        "prompts stay out of logs by default"
    );
    assert_eq!((c.tasks.lease_secs, c.tasks.retention_hours), (60, 0));
    assert_eq!(defaults.tasks.max_backlog, 100_000);
    assert_eq!(c.tasks.max_backlog, 0, "0 turns the backlog limit off");
    assert_eq!(
        c.outbound.allow_hosts,
        vec!["api.example.com", "*.svc.local"]
    );
    assert!(c.outbound.allow_loopback);
    assert_eq!(c.outbound.timeout_ms, 2500);
    for (var, value) in [
        ("TRAE_TASK_LEASE_SECS", "4"),
        ("TRAE_QUEUE_MAX_BACKLOG", "-1"),
        ("TRAE_OUTBOUND_ALLOW_LOOPBACK", "maybe"),
        ("TRAE_OUTBOUND_TIMEOUT_MS", "0"),
        ("TRAE_LLM_LOG_CONTENT", "sometimes"),
    ] {
        let err = load(dir.path(), &[(var, value)]).unwrap_err().to_string();
        assert!(err.contains(var), "{var}={value}: {err}");
    }
}

#[test]
fn schedules_come_from_the_file_and_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let write = |text: &str| std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
    write(
        r#"
[[schedules]]
name = "nightly"
cron = "0 3 * * *"
kind = "http.request"
payload = { url = "https://reports.example.com/run", method = "POST" }
priority = 2
"#,
    );
    let c = load(dir.path(), &[]).unwrap();
    assert_eq!(c.tasks.schedules.len(), 1);
    let schedule = c.tasks.schedules[0].schedule().unwrap();
    assert_eq!(schedule.name, "nightly");
    assert_eq!(schedule.task.priority, Some(2));
    assert_eq!(
        schedule.task.payload.as_ref().unwrap()["method"],
        serde_json::json!("POST")
    );

    write("[[schedules]]\nname = \"x\"\ncron = \"every day\"\nkind = \"noop\"\n");
    let err = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(
        err.contains("schedule \"x\"") && err.contains("cron"),
        "{err}"
    );

    write(
        "[[schedules]]\nname = \"x\"\ncron = \"@hourly\"\nkind = \"noop\"\n[[schedules]]\nname = \"x\"\ncron = \"@daily\"\nkind = \"noop\"\n",
    );
    let err = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(err.contains("two schedules"), "{err}");

    write(
        "[[schedules]]\nname = \"x\"\ncron = \"@hourly\"\nkind = \"noop\"\nshell = \"rm -rf /\"\n",
    );
    assert!(load(dir.path(), &[]).is_err(), "unknown keys are refused");
}

#[test]
fn cors_origins_are_normalised_and_wildcards_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(dir.path(), &[]).unwrap().cors_origins.is_empty());
    let c = load(
        dir.path(),
        &[(
            "TRAE_CORS_ORIGINS",
            "https://App.Example.com, http://localhost:3000/",
        )],
    )
    .unwrap();
    assert_eq!(
        c.cors_origins,
        vec!["https://app.example.com", "http://localhost:3000"]
    );
    for bad in [
        "*",
        "app.example.com",
        "https://a.example.com/path",
        "ftp://x.example.com",
    ] {
        let err = load(dir.path(), &[("TRAE_CORS_ORIGINS", bad)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("TRAE_CORS_ORIGINS"), "{bad}: {err}");
    }
}

#[test]
fn rate_limits_default_on_and_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let d = load(dir.path(), &[]).unwrap().rate_limit;
    assert_eq!(d, GatewayLimitConfig::default());
    assert!(d.enabled);
    assert_eq!((d.login_per_minute, d.per_minute), (30, 600));

    std::fs::write(
        dir.path().join(CONFIG_FILE),
        "rate_limit = false\nrate_limit_per_minute = 1200\nrate_limit_login_per_hour = 100\n",
    )
    .unwrap();
    let from_file = load(dir.path(), &[]).unwrap().rate_limit;
    assert!(!from_file.enabled);
    assert_eq!(from_file.per_minute, 1200);
    assert_eq!(from_file.login_per_hour, 100);

    let env = load(
        dir.path(),
        &[
            ("TRAE_RATE_LIMIT", "on"),
            ("TRAE_RATE_LIMIT_LOGIN_PER_MINUTE", "5"),
            ("TRAE_RATE_LIMIT_PER_HOUR", "10000"),
            ("TRAE_RATE_LIMIT_MAX_CLIENTS", "500"),
        ],
    )
    .unwrap()
    .rate_limit;
    assert!(env.enabled);
    assert_eq!(
        (
            env.login_per_minute,
            env.per_minute,
            env.per_hour,
            env.max_clients
        ),
        (5, 1200, 10_000, 500)
    );
    assert!(
        !load(dir.path(), &[("TRAE_RATE_LIMIT", "OFF")])
            .unwrap()
            .rate_limit
            .enabled
    );

    for (var, bad) in [
        ("TRAE_RATE_LIMIT", "sometimes"),
        ("TRAE_RATE_LIMIT_LOGIN_PER_MINUTE", "0"),
        ("TRAE_RATE_LIMIT_LOGIN_PER_MINUTE", "thirty"),
        ("TRAE_RATE_LIMIT_PER_MINUTE", "-1"),
        ("TRAE_RATE_LIMIT_PER_HOUR", "1e3"),
        ("TRAE_RATE_LIMIT_MAX_CLIENTS", "10"),
    ] {
        let err = load(dir.path(), &[(var, bad)]).unwrap_err().to_string();
        assert!(err.contains(var), "{var}={bad}: {err}");
    }
}

#[test]
fn redacted_urls_keep_the_user_and_hide_every_password() {
    for (raw, shown) in [
        (
            "postgres://trae:hunter2@db:5432/trae",
            "postgres://trae:***@db:5432/trae",
        ),
        (
            "postgres://trae@db/trae?sslmode=require&password=hunter2",
            "postgres://trae@db/trae?sslmode=require&password=***",
        ),
        (
            "postgres://db/trae?PassWord=hunter2&sslpassword=hunter2",
            "postgres://db/trae?PassWord=***&sslpassword=***",
        ),
        ("postgres://trae@db/trae", "postgres://trae@db/trae"),
        (
            "sqlite:///var/lib/trae/trae.db?mode=rwc",
            "sqlite:///var/lib/trae/trae.db?mode=rwc",
        ),
    ] {
        assert_eq!(redact_url(raw), shown, "{raw}");
    }
}

#[test]
fn session_lifetime_and_both_lockout_thresholds_are_settings() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(dir.path(), &[]).unwrap();
    assert_eq!(
        (
            c.auth.session_ttl_days,
            c.auth.lockout_max_failures,
            c.auth.lockout_account_max_failures
        ),
        (30, 5, 100),
        "strict defaults"
    );
    std::fs::write(
        dir.path().join(CONFIG_FILE),
        "lockout_account_max_failures = 1000000\nsession_ttl_days = 7\n",
    )
    .unwrap();
    let c = load(dir.path(), &[("TRAE_LOCKOUT_MAX_FAILURES", "1000")]).unwrap();
    assert_eq!(
        (
            c.auth.session_ttl_days,
            c.auth.lockout_max_failures,
            c.auth.lockout_account_max_failures
        ),
        (7, 1000, 1_000_000)
    );
    for (var, value) in [
        ("TRAE_SESSION_TTL_DAYS", "0"),
        ("TRAE_LOCKOUT_ACCOUNT_MAX_FAILURES", "0"),
    ] {
        let err = load(dir.path(), &[(var, value)]).unwrap_err().to_string();
        assert!(err.contains(var), "{err}");
    }
}
