//! `/api/solo/interviews` over HTTP, on SQLite and PostgreSQL: an interview started, answered
//! to its spec on the templates alone (no model configured), an answer revised into a second
//! spec version; every error status; and each permission attacked (a `user` may not
//! interview, a developer may not read or answer another's interview).

use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{Endpoint, Response};
use serde_json::{Value, json};
use trae_server::App;
use trae_storage::storage_test;

mod common;
use common::signed_in;

async fn json_of(resp: TestResponse) -> Value {
    resp.0
        .into_body()
        .into_json::<Value>()
        .await
        .unwrap_or(Value::Null)
}

async fn expect(resp: TestResponse, status: StatusCode) -> Value {
    let got = resp.0.status();
    let body = json_of(resp).await;
    assert_eq!(got, status, "{body}");
    if !status.is_success() {
        assert!(body["error"]["code"].is_string(), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    body
}

struct Client<E> {
    cli: TestClient<E>,
}

impl<E: Endpoint<Output = Response>> Client<E> {
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let request = match method {
            "POST" => self.cli.post(path),
            "PUT" => self.cli.put(path),
            _ => self.cli.get(path),
        }
        .header("authorization", format!("Bearer {token}"));
        match body {
            Some(body) => request.body_json(body).send().await,
            None => request.send().await,
        }
    }
}

const ANSWERS: [&str; 6] = [
    "todos: create, list",
    "developers",
    "track work",
    "create a todo: POST /todos answers 201",
    "none",
    "billing",
];

storage_test!(
    an_interview_is_answered_to_a_spec_and_revised,
    |url: String| async move {
        let (state, _dir) = common::state(&url, &[]).await;
        let alice = signed_in(&state, "alice", &["developer"]).await;
        let c = Client {
            cli: TestClient::new(App::new(&state).await.unwrap().into_endpoint()),
        };
        let resp = c
            .send(
                "POST",
                "/api/solo/interviews",
                &alice,
                Some(&json!({"project_type": "api", "idea": "A todo API"})),
            )
            .await;
        let location = resp.0.headers().get("location").cloned();
        let interview = expect(resp, StatusCode::CREATED).await;
        let id = interview["id"].as_str().unwrap().to_owned();
        assert_eq!(
            location.unwrap().to_str().unwrap(),
            format!("/api/solo/interviews/{id}")
        );
        assert_eq!(interview["status"], "open");
        assert_eq!(interview["turns"][0]["source"], "template");
        assert_eq!(interview["turns"][0]["answer"], Value::Null);

        let mut last = Value::Null;
        for answer in ANSWERS {
            let resp = c
                .send(
                    "POST",
                    &format!("/api/solo/interviews/{id}/answer"),
                    &alice,
                    Some(&json!({ "answer": answer })),
                )
                .await;
            last = expect(resp, StatusCode::OK).await;
        }
        assert_eq!(
            (last["status"].clone(), last["spec_version"].clone()),
            (json!("complete"), json!(1))
        );
        // Complete: no question waits, so another answer is a conflict and changes nothing.
        expect(
            c.send(
                "POST",
                &format!("/api/solo/interviews/{id}/answer"),
                &alice,
                Some(&json!({"answer": "one more"})),
            )
            .await,
            StatusCode::CONFLICT,
        )
        .await;
        let spec = expect(
            c.send(
                "GET",
                &format!("/api/solo/interviews/{id}/spec"),
                &alice,
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(spec["source"], "template");
        assert_eq!(
            spec["spec"]["features"][0]["acceptance"][0],
            "POST /todos answers 201"
        );
        assert!(
            spec["markdown"]
                .as_str()
                .unwrap()
                .starts_with("# A todo API\n")
        );

        let revised = expect(
            c.send(
                "PUT",
                &format!("/api/solo/interviews/{id}/turns/5/answer"),
                &alice,
                Some(&json!({"answer": "billing and invoices"})),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            (revised["status"].clone(), revised["spec_version"].clone()),
            (json!("complete"), json!(2))
        );
        let v1 = expect(
            c.send(
                "GET",
                &format!("/api/solo/interviews/{id}/spec?version=1"),
                &alice,
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(v1["spec"]["out_of_scope"], json!(["billing"]));
        let v2 = expect(
            c.send(
                "GET",
                &format!("/api/solo/interviews/{id}/spec"),
                &alice,
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(v2["spec"]["out_of_scope"], json!(["billing and invoices"]));
        let listed = expect(
            c.send("GET", "/api/solo/interviews", &alice, None).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(listed["total"], 1);
    }
);

storage_test!(
    bad_requests_and_attacks_are_refused,
    |url: String| async move {
        let (state, _dir) = common::state(&url, &[]).await;
        let alice = signed_in(&state, "alice", &["developer"]).await;
        let mallory = signed_in(&state, "mallory", &["developer"]).await;
        let plain = signed_in(&state, "plain", &["user"]).await;
        let c = Client {
            cli: TestClient::new(App::new(&state).await.unwrap().into_endpoint()),
        };
        for (body, status) in [
            (
                json!({"project_type": "game", "idea": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"project_type": "api", "idea": 5}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"project_type": "api", "idea": "  "}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"project_type": "api", "idea": "x", "extra": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ] {
            expect(
                c.send("POST", "/api/solo/interviews", &alice, Some(&body))
                    .await,
                status,
            )
            .await;
        }
        let new = json!({"project_type": "cli", "idea": "A backup tool"});
        expect(
            c.send("POST", "/api/solo/interviews", &plain, Some(&new))
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
        expect(
            c.send("GET", "/api/solo/interviews", &plain, None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        expect(
            c.send("POST", "/api/solo/interviews", "nonsense", Some(&new))
                .await,
            StatusCode::UNAUTHORIZED,
        )
        .await;

        let interview = expect(
            c.send("POST", "/api/solo/interviews", &alice, Some(&new))
                .await,
            StatusCode::CREATED,
        )
        .await;
        let id = interview["id"].as_str().unwrap();
        let answer = json!({"answer": "backup and restore"});
        let base = format!("/api/solo/interviews/{id}");
        for (method, path, body) in [
            ("GET", base.clone(), None),
            ("POST", format!("{base}/answer"), Some(&answer)),
            ("PUT", format!("{base}/turns/0/answer"), Some(&answer)),
            ("GET", format!("{base}/spec"), None),
        ] {
            expect(
                c.send(method, &path, &mallory, body).await,
                StatusCode::NOT_FOUND,
            )
            .await;
        }
        expect(
            c.send(
                "POST",
                &format!("{base}/answer"),
                &alice,
                Some(&json!({"answer": ""})),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        expect(
            c.send(
                "POST",
                &format!("{base}/answer"),
                &alice,
                Some(&json!({"answer": 3})),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        expect(
            c.send(
                "PUT",
                &format!("{base}/turns/0/answer"),
                &alice,
                Some(&answer),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        expect(
            c.send("GET", &format!("{base}/spec"), &alice, None).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        expect(
            c.send("GET", "/api/solo/interviews/not-a-uuid", &alice, None)
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        let untouched = expect(c.send("GET", &base, &alice, None).await, StatusCode::OK).await;
        assert_eq!(untouched["turns"].as_array().unwrap().len(), 1);
        assert_eq!(untouched["turns"][0]["answer"], Value::Null);
    }
);
