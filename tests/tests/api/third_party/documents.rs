//! Trusted documents: with "trusted documents only" on, an organisation's API keys run its
//! registered documents (by text or by hash) and nothing else; documents by hash for everyone,
//! APQ-style; manifests from the command line.

use imind_tests::{
    TestApp,
    fixtures::{self, COUNSELLOR, global_id},
    worker::imind_binary,
    ws::{Event, GraphQLSocket, Protocol},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::app;

const REPORT: &str = "query Report { children { totalCount } }";

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// A request by hash alone (and, with `query`, the text along with it).
async fn by_hash(app: &TestApp, token: Option<&str>, hash: &str, query: Option<&str>) -> Value {
    let mut body = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    let mut request = app.client.post(format!("{}/graphql", app.address)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

#[tokio::test]
async fn with_trusted_documents_only_a_key_runs_registered_documents_alone() {
    let (app, world, admin) = app().await;
    let (_, key) = app.create_api_key(&admin, "REPORTS", None).await;
    let registered = app
        .graphql(
            Some(&admin),
            "mutation($d: [String!]!) { registerTrustedDocuments(documents: $d) }",
            json!({ "d": [REPORT] }),
        )
        .await;
    assert_eq!(registered.data()["registerTrustedDocuments"], json!([format!("sha256:{}", sha256(REPORT))]));
    // Off by default: a key runs anything its scope allows.
    assert!(app.graphql(Some(&key), "{ me { id } }", json!({})).await.error_code().is_none());
    let on = app.graphql(Some(&admin), "mutation { setTrustedDocumentsOnly(enabled: true) }", json!({})).await;
    assert_eq!(on.data()["setTrustedDocumentsOnly"], true);
    assert_eq!(
        app.graphql(Some(&admin), "{ trustedDocumentsOnly }", json!({})).await.data()["trustedDocumentsOnly"],
        true
    );

    let unregistered = app.graphql(Some(&key), "{ me { id } }", json!({})).await;
    assert_eq!(unregistered.error_code(), Some("OPERATION_NOT_TRUSTED"), "{}", unregistered.body);
    assert_eq!(unregistered.body["data"], Value::Null, "nothing ran");
    // The same text with one space more is another document.
    let altered = app.graphql(Some(&key), &format!("{REPORT} "), json!({})).await;
    assert_eq!(altered.error_code(), Some("OPERATION_NOT_TRUSTED"));
    let by_text = app.graphql(Some(&key), REPORT, json!({})).await;
    assert_eq!(by_text.data()["children"]["totalCount"], 2);
    let by_its_hash = by_hash(&app, Some(&key), &sha256(REPORT), None).await;
    assert_eq!(by_its_hash["data"]["children"]["totalCount"], 2, "{by_its_hash}");
    // On a socket, each operation is checked: a registered one, then one that is not.
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&key)).await.unwrap();
    socket.subscribe("0", REPORT, json!({})).await.unwrap();
    match socket.next().await.1 {
        Event::Next(payload) => assert_eq!(payload["data"]["children"]["totalCount"], 2, "{payload}"),
        other => panic!("expected the report, got {other:?}"),
    }
    assert!(matches!(socket.next().await.1, Event::Complete));
    let dashboard = "subscription($c: ID!) { sessionEvents(childId: $c) { kind } }";
    socket.subscribe("1", dashboard, json!({ "c": global_id("Child", world.own) })).await.unwrap();
    match socket.next().await.1 {
        Event::Next(payload) => {
            assert_eq!(payload["errors"][0]["extensions"]["code"], "OPERATION_NOT_TRUSTED", "{payload}");
            assert_eq!(payload["data"], Value::Null);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Nor can it read report files instead (they are not registered documents).
    let session = global_id("Session", world.own_analysed.session);
    let files = [
        format!("{}/sessions/{session}/intervals.csv", app.address),
        format!("{}/sessions/{session}/timeline.svg", app.address),
        format!("{}/sessions/{session}/timeline.png", app.address),
        format!("{}/children/{}/trend.svg", app.address, global_id("Child", world.own)),
    ];
    for file in files {
        let refused = app.client.get(&file).bearer_auth(&key).send().await.unwrap();
        assert_eq!(refused.status(), 403, "{file}");
        assert!(refused.text().await.unwrap().starts_with("OPERATION_NOT_TRUSTED"), "{file}");
    }
    // Users are not held to it.
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    assert!(app.graphql(Some(&counsellor), "{ me { id } }", json!({})).await.error_code().is_none());
    // Off again: the key runs anything at once.
    app.graphql(Some(&admin), "mutation { setTrustedDocumentsOnly(enabled: false) }", json!({})).await.data();
    assert!(app.graphql(Some(&key), "{ me { id } }", json!({})).await.error_code().is_none());
}

#[tokio::test]
async fn documents_can_be_sent_by_hash() {
    let (app, _world, admin) = app().await;
    let query = "query Mine { me { id } }";
    let hash = sha256(query);
    let unknown = by_hash(&app, Some(&admin), &hash, None).await;
    assert_eq!(code(&unknown), Some("PERSISTED_QUERY_NOT_FOUND"), "{unknown}");
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound", "what APQ clients look for");
    // The client sends the text with its hash: it runs, and the hash alone works from then on.
    let with_text = by_hash(&app, Some(&admin), &hash, Some(query)).await;
    assert!(with_text["data"]["me"]["id"].is_string(), "{with_text}");
    let by_hash_alone = by_hash(&app, Some(&admin), &hash, None).await;
    assert!(by_hash_alone["data"]["me"]["id"].is_string(), "{by_hash_alone}");
    // A text under another document's hash is refused (no cache poisoning).
    let other = "mutation { logout }";
    let lying = by_hash(&app, Some(&admin), &sha256("{ children { totalCount } }"), Some(other)).await;
    assert_eq!(code(&lying), Some("BAD_USER_INPUT"), "{lying}");
    assert_eq!(
        code(&by_hash(&app, Some(&admin), &sha256("{ children { totalCount } }"), None).await),
        Some("PERSISTED_QUERY_NOT_FOUND")
    );
    assert_eq!(code(&by_hash(&app, None, "not-a-hash", None).await), Some("BAD_USER_INPUT"));
    // Registered trusted documents are known by hash to every gateway.
    app.graphql(
        Some(&admin),
        "mutation($d: [String!]!) { registerTrustedDocuments(documents: $d) }",
        json!({ "d": [REPORT] }),
    )
    .await
    .data();
    let registered = by_hash(&app, Some(&admin), &sha256(REPORT), None).await;
    assert_eq!(registered["data"]["children"]["totalCount"], 2, "{registered}");
}

#[tokio::test]
async fn only_admins_register_documents_and_only_graphql_ones() {
    let (app, _world, admin) = app().await;
    let register = "mutation($d: [String!]!) { registerTrustedDocuments(documents: $d) }";
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    assert_eq!(
        app.graphql(Some(&counsellor), register, json!({ "d": [REPORT] })).await.error_code(),
        Some("FORBIDDEN")
    );
    for admin_only in ["mutation { setTrustedDocumentsOnly(enabled: true) }", "{ trustedDocumentsOnly }"] {
        let refused = app.graphql(Some(&counsellor), admin_only, json!({})).await;
        assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{admin_only}: {}", refused.body);
    }
    let not_graphql = app.graphql(Some(&admin), register, json!({ "d": [REPORT, "SELECT * FROM children"] })).await;
    assert_eq!(not_graphql.error_code(), Some("BAD_USER_INPUT"));
    assert!(not_graphql.error_message().unwrap().contains("document 1"), "{}", not_graphql.body);
    let huge = app
        .graphql(Some(&admin), register, json!({ "d": [format!("{{ me {{ id }} }}#{}", "x".repeat(70_000))] }))
        .await;
    assert_eq!(huge.error_code(), Some("BAD_USER_INPUT"));
    let none = app.graphql(Some(&admin), register, json!({ "d": [] })).await;
    assert_eq!(none.error_code(), Some("BAD_USER_INPUT"));
    // Registering twice is harmless.
    for _ in 0..2 {
        app.graphql(Some(&admin), register, json!({ "d": [REPORT] })).await.data();
    }
}

#[tokio::test]
async fn a_manifest_is_registered_from_the_command_line() {
    let (app, _world, admin) = app().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("persisted-documents.json");
    let run = |manifest: &std::path::Path| {
        std::process::Command::new(imind_binary())
            .args(["trusted-documents", "--org", "Organisation A"])
            .arg(manifest)
            .env("IMIND_DATABASE_URL", app.settings.effective_database_url())
            .env("IMIND_DATA_DIR", &app.settings.data_dir)
            .output()
            .unwrap()
    };
    std::fs::write(&manifest, json!({ format!("sha256:{}", sha256(REPORT)): REPORT }).to_string()).unwrap();
    let output = run(&manifest);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (_, key) = app.create_api_key(&admin, "REPORTS", None).await;
    app.graphql(Some(&admin), "mutation { setTrustedDocumentsOnly(enabled: true) }", json!({})).await.data();
    assert_eq!(app.graphql(Some(&key), REPORT, json!({})).await.data()["children"]["totalCount"], 2);
    // A manifest whose name is not its document's hash is refused whole.
    std::fs::write(&manifest, json!({ format!("sha256:{}", sha256(REPORT)): "{ me { email } }" }).to_string()).unwrap();
    let output = run(&manifest);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not the SHA-256"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        app.graphql(Some(&key), "{ me { email } }", json!({})).await.error_code(),
        Some("OPERATION_NOT_TRUSTED")
    );
}
