//! The content routers over HTTP on SQLite and PostgreSQL: `/api/channels`, `/api/personas`,
//! `/api/evidence` and `/api/contradictions`, with their permissions (content:read, write
//! and review) and error answers.

use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use trae_core::PageRequest;
use trae_core::identity::audit::AuditFilter;
use trae_server::App;
use trae_storage::storage_test;

mod common;
use common::signed_in;

/// A client that sends JSON with a bearer token and answers (status, JSON body).
struct Client<E> {
    cli: TestClient<E>,
}

impl<E: poem::Endpoint> Client<E> {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let req = match method {
            "GET" => self.cli.get(path),
            "POST" => self.cli.post(path),
            "PATCH" => self.cli.patch(path),
            "DELETE" => self.cli.delete(path),
            other => panic!("no method {other}"),
        }
        .header("authorization", format!("Bearer {token}"));
        let req = match body {
            Some(b) => req.body_json(&b),
            None => req,
        };
        let resp = req.send().await;
        let status = resp.0.status();
        let text = resp.0.into_body().into_string().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

storage_test!(channels_and_personas_over_http, |url: String| async move {
    let (state, _dir) = common::state(&url, &[]).await;
    let viewer = signed_in(&state, "vera", &["viewer"]).await;
    let writer = signed_in(&state, "wendy", &["viewer", "user"]).await;
    let c = Client {
        cli: TestClient::new(App::new(&state).await.unwrap().into_endpoint()),
    };

    let (status, ch) = c
        .call(
            "POST",
            "/api/channels",
            &writer,
            Some(json!({"name": "Science Hour", "platform": "podcast",
                        "metrics": {"listeners": 900}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ch}");
    assert_eq!(ch["platform"], "podcast");
    assert_eq!(ch["metrics"]["listeners"], 900);
    let ch_id = ch["id"].as_str().unwrap().to_owned();

    let (status, body) = c
        .call("POST", "/api/channels", &viewer, Some(json!({"name": "X"})))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = c
        .call(
            "POST",
            "/api/channels",
            &writer,
            Some(json!({"name": "Science Hour"})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, body) = c
        .call(
            "POST",
            "/api/channels",
            &writer,
            Some(json!({"name": "Y", "platform": "myspace"})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let (status, body) = c
        .call(
            "POST",
            "/api/channels",
            &writer,
            Some(json!({"name": "Y", "color": "red"})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let (status, body) = c
        .call(
            "POST",
            "/api/channels",
            &writer,
            Some(json!({"name": "Y", "url": "ftp://example.org"})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let (status, page) = c
        .call("GET", "/api/channels?platform=podcast", &viewer, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page["total"], 1,
        "refused channels left nothing behind: {page}"
    );

    // A persona on the channel, and a variant of it.
    let (status, host) = c
        .call(
            "POST",
            "/api/personas",
            &writer,
            Some(json!({"name": "Host", "channel_id": ch_id, "tone": "warm",
                        "expertise_areas": ["physics"], "vocabulary_level": "intermediate"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{host}");
    assert_eq!(host["version"], 1);
    let host_id = host["id"].as_str().unwrap().to_owned();
    let (status, kid) = c
        .call(
            "POST",
            "/api/personas",
            &writer,
            Some(json!({"name": "Host for kids", "parent_id": host_id,
                        "vocabulary_level": "basic"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{kid}");
    assert_eq!(kid["tone"], "warm", "inherited");
    assert_eq!(kid["vocabulary_level"], "basic", "its own");
    assert_eq!(
        kid["inherited"],
        json!(["expertise_areas", "tone", "channel_id"])
    );
    let kid_id = kid["id"].as_str().unwrap().to_owned();

    let (status, v2) = c
        .call(
            "PATCH",
            &format!("/api/personas/{host_id}"),
            &writer,
            Some(json!({"tone": "dry"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2);
    let (_, kid) = c
        .call("GET", &format!("/api/personas/{kid_id}"), &viewer, None)
        .await;
    assert_eq!(
        kid["tone"], "dry",
        "a variant follows its parent's current version"
    );
    let (status, v1) = c
        .call(
            "GET",
            &format!("/api/personas/{host_id}/versions/1"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(v1["tone"], "warm");
    let (status, body) = c
        .call(
            "GET",
            &format!("/api/personas/{host_id}/versions/9"),
            &viewer,
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = c
        .call(
            "PATCH",
            &format!("/api/personas/{host_id}"),
            &writer,
            Some(json!({"parent_id": kid_id})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let (status, prompt) = c
        .call(
            "GET",
            &format!("/api/personas/{kid_id}/prompt"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{prompt}");
    let text = prompt["prompt"].as_str().unwrap();
    assert!(text.starts_with("You are Host for kids."), "{text}");
    assert!(text.contains("Tone: dry"), "{text}");
    assert!(text.contains("Channel: Science Hour on podcast"), "{text}");
    let (_, kid) = c
        .call("GET", &format!("/api/personas/{kid_id}"), &viewer, None)
        .await;
    assert_eq!(kid["usage_count"], 1);

    let (status, page) = c
        .call(
            "GET",
            &format!("/api/personas?parent_id={host_id}"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["name"], "Host for kids");

    // The channel is in use: refused, then detached.
    let (status, body) = c
        .call("DELETE", &format!("/api/channels/{ch_id}"), &writer, None)
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("detach=true")
    );
    let (status, _) = c
        .call(
            "DELETE",
            &format!("/api/channels/{ch_id}?detach=true"),
            &writer,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, host) = c
        .call("GET", &format!("/api/personas/{host_id}"), &viewer, None)
        .await;
    assert_eq!(host["channel_id"], Value::Null);
    assert_eq!(host["version"], 3);
    let (_, versions) = c
        .call(
            "GET",
            &format!("/api/personas/{host_id}/versions"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(versions.as_array().unwrap().len(), 3);
    let (status, body) = c
        .call("DELETE", &format!("/api/personas/{host_id}"), &writer, None)
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
});

storage_test!(evidence_search_over_http, |url: String| async move {
    let (state, _dir) = common::state(&url, &[]).await;
    let writer = signed_in(&state, "wendy", &["viewer", "user"]).await;
    let c = Client {
        cli: TestClient::new(App::new(&state).await.unwrap().into_endpoint()),
    };
    let mut ids = Vec::new();
    for (topic, content, kind) in [
        (
            "Budget speech",
            "She promised taxes would fall; they rose.",
            "quote",
        ),
        ("Taxes since 2020", "Revenue grew each year.", "statistic"),
        ("Weather", "Rain all week.", "news"),
    ] {
        let (status, e) = c
            .call(
                "POST",
                "/api/evidence",
                &writer,
                Some(
                    json!({"topic": topic, "content": content, "evidence_type": kind,
                            "published_at": "2024-05-01T10:00:00Z", "credibility": 8}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{e}");
        let published: chrono::DateTime<chrono::Utc> =
            e["published_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(published.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    let (status, hits) = c.call("GET", "/api/evidence?q=taxes", &writer, None).await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    assert_eq!(hits["total"], 2);
    assert_eq!(
        hits["items"][0]["id"], ids[1],
        "the topic match first: {hits}"
    );
    assert_eq!(hits["items"][1]["id"], ids[0]);
    let (_, hits) = c
        .call(
            "GET",
            "/api/evidence?q=taxes&evidence_type=quote",
            &writer,
            None,
        )
        .await;
    assert_eq!(hits["total"], 1);
    let (status, body) = c.call("GET", "/api/evidence?q=%2A%2A", &writer, None).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let (status, body) = c
        .call("GET", "/api/evidence?evidence_type=rumour", &writer, None)
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    let (status, body) = c
        .call(
            "POST",
            "/api/evidence",
            &writer,
            Some(json!({"topic": "x", "content": "y", "relevance": 11})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("relevance"),
        "{body}"
    );
    let (status, _) = c
        .call(
            "DELETE",
            &format!("/api/evidence/{}", ids[2]),
            &writer,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = c
        .call("GET", &format!("/api/evidence/{}", ids[2]), &writer, None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
});

storage_test!(
    the_contradiction_tracker_over_http,
    |url: String| async move {
        let (state, _dir) = common::state(&url, &[]).await;
        let viewer = signed_in(&state, "vera", &["viewer"]).await;
        let writer = signed_in(&state, "wendy", &["viewer", "user"]).await;
        let reviewer = signed_in(&state, "rita", &["viewer", "user", "developer"]).await;
        let c = Client {
            cli: TestClient::new(App::new(&state).await.unwrap().into_endpoint()),
        };
        let (_, clip) = c
            .call(
                "POST",
                "/api/evidence",
                &writer,
                Some(json!({"topic": "Rally", "content": "Video of the speech."})),
            )
            .await;
        let (status, record) = c
            .call(
                "POST",
                "/api/contradictions",
                &writer,
                Some(json!({
                    "subject_name": "Sen. Smith", "subject_type": "politician", "topic": "taxes",
                    "statement_1": "I never support tax hikes.",
                    "statement_2": "We must always support tax hikes.",
                    "date_1": "2020-01-01", "date_2": "2020-03-01",
                    "evidence_1": [clip["id"]], "severity": 8, "public_impact": 9,
                    "contradiction_type": "policy_shift"
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{record}");
        assert_eq!(record["verification_status"], "pending");
        assert_eq!(record["time_gap_days"], 60);
        assert_eq!(record["evidence_1"], json!([clip["id"]]));
        let id = record["id"].as_str().unwrap().to_owned();

        let (status, body) = c
            .call(
                "POST",
                "/api/contradictions",
                &writer,
                Some(
                    json!({"subject_name": "A", "topic": "t", "statement_1": "x",
                        "statement_2": "y", "confidence": 1.5}),
                ),
            )
            .await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let (_, page) = c.call("GET", "/api/contradictions", &viewer, None).await;
        assert_eq!(page["total"], 1, "{page}");

        // The engine fills in the stored record.
        let (status, analyzed) = c
            .call(
                "POST",
                &format!("/api/contradictions/{id}/analyze"),
                &writer,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{analyzed}");
        assert_eq!(
            analyzed["contradiction"]["analysis"]["suggested_type"],
            "direct"
        );
        assert_eq!(
            analyzed["contradiction"]["contradiction_type"],
            "policy_shift"
        );
        assert_eq!(analyzed["analysis"]["label"], "high");
        let confidence = analyzed["contradiction"]["confidence"].as_f64().unwrap();
        assert!(confidence > 0.5, "{analyzed}");
        let (status, body) = c
            .call(
                "POST",
                &format!("/api/contradictions/{id}/analyze"),
                &viewer,
                None,
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

        // Verification: only a reviewer, with a note.
        let verify = |token: String, body: Value| {
            let c = &c;
            let path = format!("/api/contradictions/{id}/verify");
            async move { c.call("POST", &path, &token, Some(body)).await }
        };
        let (status, body) = verify(
            writer.clone(),
            json!({"status": "verified", "note": "I wrote it myself"}),
        )
        .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let (status, body) =
            verify(reviewer.clone(), json!({"status": "verified", "note": " "})).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let (status, body) =
            verify(reviewer.clone(), json!({"status": "certain", "note": "x"})).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let (status, done) = verify(
            reviewer.clone(),
            json!({"status": "verified", "note": "both clips checked"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(done["verification_status"], "verified");
        assert!(
            done["reviewed_by"].as_str().unwrap().starts_with("user:"),
            "{done}"
        );
        assert_eq!(done["review_note"], "both clips checked");
        let (status, body) = verify(
            reviewer.clone(),
            json!({"status": "verified", "note": "again"}),
        )
        .await;
        assert_error(status, &body, StatusCode::CONFLICT, "conflict");

        let audit = state
            .store()
            .audit()
            .list(AuditFilter::default(), PageRequest::default())
            .await
            .unwrap();
        let moves: Vec<(&str, &str, Option<&str>)> = audit
            .items
            .iter()
            .rev()
            .filter(|e| e.action == "contradiction.verify")
            .map(|e| {
                (
                    e.outcome.as_str(),
                    e.actor.name.as_deref().unwrap_or(""),
                    e.details["to"].as_str(),
                )
            })
            .collect();
        assert_eq!(
            moves,
            [
                ("denied", "wendy", Some("verified")),
                ("success", "rita", Some("verified"))
            ]
        );

        // Opportunities: verified and unused only.
        let (_, other) = c
            .call(
                "POST",
                "/api/contradictions",
                &writer,
                Some(json!({"subject_name": "Mayor Lee", "topic": "parks",
                        "statement_1": "Parks stay open.", "statement_2": "Parks close."})),
            )
            .await;
        let (status, ops) = c
            .call("GET", "/api/contradictions/opportunities", &viewer, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{ops}");
        assert_eq!(
            ops["total"], 1,
            "the pending record is no opportunity: {ops}"
        );
        assert_eq!(ops["items"][0]["contradiction"]["id"], id.as_str());
        let score = ops["items"][0]["score"].as_f64().unwrap();
        assert!((score - 8.0 * confidence * 9.0).abs() < 1e-9, "{ops}");
        let (status, used) = c
            .call(
                "PATCH",
                &format!("/api/contradictions/{id}"),
                &writer,
                Some(json!({"content_used": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{used}");
        assert_eq!(
            used["verification_status"], "verified",
            "marking use keeps the review"
        );
        let (_, ops) = c
            .call("GET", "/api/contradictions/opportunities", &viewer, None)
            .await;
        assert_eq!(ops["total"], 0);

        let (_, listed) = c
            .call(
                "GET",
                "/api/contradictions?verification_status=pending&subject_name=mayor%20lee",
                &viewer,
                None,
            )
            .await;
        assert_eq!(listed["total"], 1);
        assert_eq!(listed["items"][0]["id"], other["id"]);

        let (status, body) = c
            .call(
                "GET",
                &format!("/api/contradictions/{}", uuid::Uuid::now_v7()),
                &viewer,
                None,
            )
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, _) = c
            .call(
                "DELETE",
                &format!("/api/contradictions/{id}"),
                &writer,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
);
