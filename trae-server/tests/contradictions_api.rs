//! `POST /api/contradictions/analyze` over HTTP: a text, two statements, 401 without
//! credentials, 403 without `content:read`, and 422 for bodies the engine cannot take.

use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use trae_auth::{NewRole, RequestMeta};
use trae_core::Principal;
use trae_server::App;
use trae_storage::storage_test;

mod common;
use common::signed_in;

storage_test!(
    analyze_texts_and_statement_pairs,
    |url: String| async move {
        let (state, _dir) = common::state(&url, &[]).await;
        let viewer = signed_in(&state, "vera", &["viewer"]).await;
        // A role without content:read.
        state
            .identity()
            .policy
            .create_role(
                &Principal::System,
                NewRole {
                    name: "pet-reader".into(),
                    description: "Reads pets only".into(),
                    permissions: vec!["pets:read".into()],
                },
                &RequestMeta::default(),
            )
            .await
            .unwrap();
        let nobody = signed_in(&state, "nora", &["pet-reader"]).await;
        let cli = TestClient::new(App::new(&state).await.unwrap().into_endpoint());
        let post = |token: Option<String>, body: Value| {
            let req = cli.post("/api/contradictions/analyze").body_json(&body);
            let req = match token {
                Some(t) => req.header("authorization", format!("Bearer {t}")),
                None => req,
            };
            async move {
                let resp = req.send().await;
                let status = resp.0.status();
                let text = resp.0.into_body().into_string().await.unwrap();
                (status, serde_json::from_str::<Value>(&text).unwrap())
            }
        };

        let (status, found) = post(
            Some(viewer.clone()),
            json!({"text": "I never support tax hikes. We must always support tax hikes."}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["label"], "high");
        let pair = &found["contradictions"][0];
        assert_eq!(
            (pair["type"].as_str(), pair["cue"].as_str()),
            (Some("direct"), Some("quantifier"))
        );
        assert_eq!(pair["statement_2"], "We must always support tax hikes.");

        let (status, found) = post(
            Some(viewer.clone()),
            json!({"statement_1": "I know the plan.", "statement_2": "I know the plan well."}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            found,
            json!({"score": 0, "label": "none", "contradictions": []})
        );

        let (status, body) = post(None, json!({"text": "A."})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let (status, body) = post(Some(nobody), json!({"text": "A."})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");

        for bad in [
            json!({}),
            json!({"text": "A.", "statement_1": "B."}),
            json!({"statement_1": "B."}),
            json!({"text": "   "}),
            json!({"text": "A.", "colour": "red"}),
            json!({"text": ["A."]}),
        ] {
            let (status, body) = post(Some(viewer.clone()), bad.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
            assert_eq!(body["error"]["code"], "validation_failed", "{bad}: {body}");
        }
        state.store().close().await;
    }
);
