//! The spec says what the server does: real responses validate against `/openapi.json`, every
//! status the server answers with is declared, and the spec itself is valid OpenAPI.

use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use serde_json::{Value, json};
use trae_server::App;

mod common;
use common::signed_in;

/// A server with seeded records, an admin's token and the spec it serves.
struct Served<E> {
    cli: TestClient<E>,
    token: String,
    spec: Value,
    _dir: tempfile::TempDir,
}

async fn served() -> Served<impl poem::Endpoint<Output = poem::Response>> {
    let (state, dir) = common::state(
        "sqlite::memory:",
        // The seeded endpoint's host must pass the outbound policy to be registered.
        &[("TRAE_OUTBOUND_ALLOW_HOSTS", "llm.example.com")],
    )
    .await;
    let token = signed_in(&state, "root", &["admin"]).await;
    let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint());
    let spec: Value = cli
        .get("/openapi.json")
        .send()
        .await
        .0
        .into_body()
        .into_json()
        .await
        .unwrap();
    Served {
        cli,
        token,
        spec,
        _dir: dir,
    }
}

impl<E: poem::Endpoint> Served<E> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = self
            .cli
            .request(method, path)
            .header("authorization", format!("Bearer {}", self.token));
        let req = match body {
            Some(b) => req.body_json(&b),
            None => req,
        };
        let resp = req.send().await;
        let status = resp.0.status();
        let text = resp.0.into_body().into_string().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Every operation of the spec as (path, method, operation).
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

/// The schema `schema` points at, following `$ref`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Checks `value` against `schema` (the subset of JSON Schema poem-openapi writes), pushing
/// every mismatch with its JSON path onto `errors`.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if value.is_null() {
        if schema["nullable"] != true && !schema.as_object().is_some_and(|o| o.is_empty()) {
            errors.push(format!(
                "{at}: null, but the schema is not nullable: {schema}"
            ));
        }
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            check(spec, s, value, at, errors);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema[key].as_array() {
            let fits = any.iter().any(|s| {
                let mut e = Vec::new();
                check(spec, s, value, at, &mut e);
                e.is_empty()
            });
            if !fits {
                errors.push(format!("{at}: fits none of {key}: {value}"));
            }
        }
    }
    let fits_type = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(_) => true,
    };
    if !fits_type {
        errors.push(format!("{at}: {value} is not of type {}", schema["type"]));
        return;
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(obj) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            if !obj.contains_key(name.as_str().unwrap()) {
                errors.push(format!("{at}: required {name} missing"));
            }
        }
        for (name, v) in obj {
            let path = format!("{at}.{name}");
            if let Some(s) = schema["properties"].get(name) {
                check(spec, s, v, &path, errors);
            } else if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                check(spec, s, v, &path, errors);
            } else if schema["additionalProperties"] == false {
                errors.push(format!("{path}: not a property of {schema}"));
            }
        }
    }
    if let (Some(items), Some(s)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check(spec, s, v, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Records of every kind, with optional fields left out so their `null`s show.
async fn seed<E: poem::Endpoint>(s: &Served<E>) {
    let seeds = [
        (
            "/api/pets",
            json!({"name": "Rex", "species": "dog", "age": 3}),
        ),
        ("/api/tasks", json!({"kind": "noop"})),
        ("/api/auth/api-keys", json!({"name": "ci"})),
        ("/api/channels", json!({"name": "Chan", "platform": "blog"})),
        ("/api/personas", json!({"name": "Persona"})),
        (
            "/api/evidence",
            json!({"topic": "tax", "content": "rates rose", "evidence_type": "quote"}),
        ),
        (
            "/api/metrics/alerts",
            json!({"name": "depth", "metric": "trae_queue_depth", "comparison": ">", "value": 5, "severity": "low"}),
        ),
        (
            "/api/apis",
            json!({"name": "model", "capability": "llm.chat", "base_url": "https://llm.example.com"}),
        ),
        ("/api/policy/roles", json!({"name": "auditor"})),
        (
            "/api/admin/users",
            json!({"username": "plain", "email": "plain@example.com", "password": "a long password 1", "roles": ["viewer"]}),
        ),
    ];
    for (path, body) in seeds {
        let (status, answer) = s.call(Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "seeding {path}: {status} {answer}");
    }
    let (status, answer) = s
        .call(
            Method::PUT,
            "/api/secrets/CI_SECRET",
            Some(json!({"value": "v"})),
        )
        .await;
    assert!(status.is_success(), "{status} {answer}");
}

/// A concrete path for `template`: its one parameter taken from the first item of the list
/// above it (by the parameter's own name, else `id`, else `name`).
async fn concrete<E: poem::Endpoint>(s: &Served<E>, template: &str) -> Option<String> {
    let start = template.find('{')?;
    let end = template.find('}')?;
    if template[end + 1..].contains('{') {
        return None;
    }
    let param = &template[start + 1..end];
    let list = template[..start].trim_end_matches('/');
    let (_, page) = s.call(Method::GET, list, None).await;
    let first = &page["items"][0];
    let value = [param, "id", "name"]
        .iter()
        .find_map(|k| first[*k].as_str().map(str::to_owned))?;
    Some(format!(
        "{}{value}{}",
        &template[..start],
        &template[end + 1..]
    ))
}

#[tokio::test]
async fn every_readable_response_matches_its_schema() {
    let s = served().await;
    seed(&s).await;
    let mut errors = Vec::new();
    let mut checked = 0;
    for (template, method, op) in operations(&s.spec) {
        if method != "get" || template == "/metrics" {
            continue;
        }
        // A stream never ends; tests/events_api.rs reads it.
        if !op["responses"]["200"]["content"]["text/event-stream"].is_null() {
            continue;
        }
        let Some(path) = (if template.contains('{') {
            concrete(&s, &template).await
        } else {
            Some(template.clone())
        }) else {
            continue;
        };
        let (status, value) = s.call(Method::GET, &path, None).await;
        let declared = &op["responses"][status.as_str()];
        if declared.is_null() {
            errors.push(format!("GET {path}: {status} is not declared"));
            continue;
        }
        let schema = &declared["content"]["application/json; charset=utf-8"]["schema"];
        if !schema.is_null() {
            check(&s.spec, schema, &value, &format!("GET {path}"), &mut errors);
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} responses checked");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[tokio::test]
async fn no_required_list_names_a_property_twice() {
    let s = served().await;
    let mut twice = Vec::new();
    for (name, schema) in s.spec["components"]["schemas"].as_object().unwrap() {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for r in required {
            if !seen.insert(r) {
                twice.push(format!("{name}.{r}"));
            }
        }
    }
    assert!(twice.is_empty(), "{twice:?}");
}

#[tokio::test]
async fn every_operation_with_a_json_body_declares_415_and_413() {
    let s = served().await;
    let mut missing = Vec::new();
    for (path, method, op) in operations(&s.spec) {
        if op["requestBody"].is_null() {
            continue;
        }
        for status in ["413", "415", "422"] {
            if op["responses"][status].is_null() {
                missing.push(format!("{method} {path}: {status}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:?}");
}

#[tokio::test]
async fn page_parameters_declare_their_ranges() {
    let s = served().await;
    let mut wrong = Vec::new();
    for (path, method, op) in operations(&s.spec) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let (name, schema) = (p["name"].as_str().unwrap(), &p["schema"]);
            let want = match name {
                "limit" => (Some(1), Some(500)),
                "offset" => (Some(0), Some(i64::MAX)),
                _ => continue,
            };
            let got = (schema["minimum"].as_i64(), schema["maximum"].as_i64());
            if got != want {
                wrong.push(format!("{method} {path} {name}: {schema}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[tokio::test]
async fn alert_rules_are_paged_like_every_list() {
    let s = served().await;
    for name in ["a", "b", "c"] {
        let rule = json!({"name": name, "metric": "trae_queue_depth", "comparison": ">", "value": 5, "severity": "low"});
        let (status, _) = s
            .call(Method::POST, "/api/metrics/alerts", Some(rule))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, page) = s
        .call(Method::GET, "/api/metrics/alerts?limit=1&offset=1", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            page["total"].as_u64(),
            page["limit"].as_u64(),
            page["offset"].as_u64()
        ),
        (Some(3), Some(1), Some(1)),
        "{page}"
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["name"], "b");
    let (status, _) = s
        .call(Method::GET, "/api/metrics/alerts?limit=0", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn unsupported_methods_are_405_with_allow() {
    let s = served().await;
    for (method, path, allowed) in [
        (Method::TRACE, "/api/pets", "GET, POST, HEAD"),
        (Method::PUT, "/api/pets", "GET, POST, HEAD"),
        (Method::TRACE, "/api/health/live", "GET, HEAD"),
    ] {
        let resp = s.cli.request(method.clone(), path).send().await;
        assert_eq!(
            resp.0.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let allow = resp
            .0
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow.as_deref(), Some(allowed), "{method} {path}");
        let body: Value = resp.0.into_body().into_json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
}
