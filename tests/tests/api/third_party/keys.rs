//! An API key's life: created by an admin, used on HTTP and WebSocket, revoked; and what a key
//! may never do.

use std::time::Duration;

use imind_tests::{
    fixtures::{self, ADMIN_B, COUNSELLOR, GUARDIAN, global_id},
    ws::{Event, GraphQLSocket, Protocol},
};
use serde_json::{Value, json};

use super::{app, app_with};

const CREATE: &str = "mutation($name: String!, $scope: ApiKeyScope!, $children: [ID!], $expires: DateTime) { \
    createApiKey(name: $name, scope: $scope, childIds: $children, expiresAt: $expires) { \
      key { id name scope createdAt expiresAt lastUsedAt revokedAt childIds } secret } }";
const REVOKE: &str = "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }";
const KEYS: &str = "{ apiKeys { id name lastUsedAt revokedAt } }";

/// The socket's next message (of any operation), within ten seconds.
async fn first_event(socket: &mut GraphQLSocket) -> Event {
    tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("an answer in time").1
}

#[tokio::test]
async fn a_key_works_on_http_and_websocket_until_it_is_revoked() {
    let (app, world, admin) = app().await;
    let created = app.graphql(Some(&admin), CREATE, json!({ "name": "Reporting tool", "scope": "COUNSELLOR" })).await;
    let created = &created.data()["createApiKey"];
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key_id = created["key"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("imk_") && secret.len() > 40, "{created}");
    assert_eq!(created["key"]["childIds"], Value::Null, "every child");
    assert_eq!(created["key"]["lastUsedAt"], Value::Null);

    // Only a hash is stored: the secret appears nowhere in the database.
    use sea_orm::EntityTrait;
    let stored = entity::api_key::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].secret_hash, secret);
    assert!(!stored[0].secret_hash.contains(&secret[4..]));

    // HTTP: reads as its scope allows; `me` is the admin who answers for it.
    let read = app.graphql(Some(&secret), "{ me { id role } children { totalCount } }", json!({})).await;
    assert_eq!(read.data()["me"]["id"], global_id("User", world.admin), "{}", read.body);
    assert_eq!(read.data()["children"]["totalCount"], 2);
    let listed = app.graphql(Some(&admin), KEYS, json!({})).await;
    assert!(listed.data()["apiKeys"][0]["lastUsedAt"].is_string(), "its use is stamped: {}", listed.body);

    // The audit log names the key as the reader.
    let log = app
        .graphql(
            Some(&admin),
            "{ auditLog(action: \"child.read\", first: 50) { edges { node { actor } } } }",
            json!({}),
        )
        .await;
    let actors: Vec<&str> = log.data()["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["actor"].as_str().unwrap())
        .collect();
    assert!(actors.contains(&key_id.as_str()), "{actors:?}");

    // WebSocket: the key in connection_init, both protocols.
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&secret)).await.unwrap();
    socket.subscribe("1", "{ children { totalCount } }", json!({})).await.unwrap();
    match first_event(&mut socket).await {
        Event::Next(payload) => assert_eq!(payload["data"]["children"]["totalCount"], 2, "{payload}"),
        other => panic!("expected data, got {other:?}"),
    }
    let legacy = GraphQLSocket::connect(&app.address, Protocol::Legacy, Some(&secret)).await;
    assert!(legacy.is_ok(), "{:?}", legacy.err());

    // Revoked: refused at once on this gateway, on every transport.
    let revoked = app.graphql(Some(&admin), REVOKE, json!({ "id": key_id })).await;
    assert!(revoked.data()["revokeApiKey"]["revokedAt"].is_string());
    let refused = app.graphql(Some(&secret), "{ me { id } }", json!({})).await;
    assert_eq!(refused.error_code(), Some("UNAUTHENTICATED"), "{}", refused.body);
    let refused = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&secret)).await;
    assert!(refused.err().is_some_and(|reason| reason.contains("4403")), "a new socket is refused");
    // The open socket's next operation finds the key revoked and closes it.
    socket.subscribe("2", "{ me { id } }", json!({})).await.unwrap();
    let closed = loop {
        match first_event(&mut socket).await {
            Event::Closed(frame) => break frame,
            Event::Complete => continue, // the first operation's end
            other => panic!("expected the socket closed, got {other:?}"),
        }
    };
    assert_eq!(closed.map(|(code, _)| code), Some(4403));
    // Revoking again changes nothing; the key stays listed, with its revocation.
    let again = app.graphql(Some(&admin), REVOKE, json!({ "id": key_id })).await;
    assert_eq!(again.data()["revokeApiKey"]["revokedAt"], revoked.data()["revokeApiKey"]["revokedAt"]);
    let listed = app.graphql(Some(&admin), KEYS, json!({})).await;
    assert!(listed.data()["apiKeys"][0]["revokedAt"].is_string());
}

#[tokio::test]
async fn a_key_never_does_more_than_read() {
    let (app, world, admin) = app().await;
    let (_, key) = app.create_api_key(&admin, "COUNSELLOR", None).await;
    let (other_key_id, _) = app.create_api_key(&admin, "REPORTS", None).await;
    let child = global_id("Child", world.own);
    let forbidden = [
        ("createApiKey", CREATE, json!({ "name": "mine now", "scope": "COUNSELLOR" })),
        ("revokeApiKey", REVOKE, json!({ "id": other_key_id })),
        ("apiKeys", KEYS, json!({})),
        (
            "registerTrustedDocuments",
            "mutation { registerTrustedDocuments(documents: [\"{ me { id } }\"]) }",
            json!({}),
        ),
        ("setTrustedDocumentsOnly", "mutation { setTrustedDocumentsOnly(enabled: false) }", json!({})),
        (
            "createUser",
            "mutation { createUser(input: { email: \"x@a.test\", name: \"X\", role: ADMIN, password: \"long enough password\" }) { id } }",
            json!({}),
        ),
        ("createChild", "mutation { createChild(input: { name: \"X\" }) { id } }", json!({})),
        ("auditLog", "{ auditLog { totalCount } }", json!({})),
        ("exportChild", "mutation($c: ID!) { exportChild(id: $c) { id } }", json!({ "c": child })),
        (
            "giveConsent",
            "mutation($c: ID!) { giveConsent(childId: $c, kind: RESEARCH_EXPORT, textVersion: \"v1\") { kind } }",
            json!({ "c": child }),
        ),
        (
            "setRetentionPolicy",
            "mutation { setRetentionPolicy(input: { videoDaysAfterAnalysis: 1 }) { videoDaysAfterAnalysis } }",
            json!({}),
        ),
        ("child.accessLog", "query($c: ID!) { child(id: $c) { accessLog { totalCount } } }", json!({ "c": child })),
        (
            "session.videoUrl",
            "query($s: ID!) { session(id: $s) { videoUrl } }",
            json!({ "s": global_id("Session", world.own_analysed.session) }),
        ),
    ];
    for (name, query, variables) in forbidden {
        let response = app.graphql(Some(&key), query, variables).await;
        assert_eq!(response.error_code(), Some("FORBIDDEN"), "{name}: {}", response.body);
    }
    // The organisation's people are not the key's to look up; its creator is (`me`). Who
    // recorded a session is there by id and role, not by name or e-mail.
    let session = json!({ "s": global_id("Session", world.own_analysed.session) });
    let by_id =
        app.graphql(Some(&key), "query($s: ID!) { session(id: $s) { counsellor { id role } } }", session.clone()).await;
    assert_eq!(by_id.data()["session"]["counsellor"]["id"], global_id("User", world.counsellor));
    for field in ["email", "name"] {
        let query = format!("query($s: ID!) {{ session(id: $s) {{ counsellor {{ {field} }} }} }}");
        let named = app.graphql(Some(&key), &query, session.clone()).await;
        assert_eq!(named.error_code(), Some("FORBIDDEN"), "{field}: {}", named.body);
    }
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let give = "mutation($c: ID!) { giveConsent(childId: $c, kind: RESEARCH_EXPORT, textVersion: \"v1\") { kind } }";
    app.graphql(Some(&guardian), give, json!({ "c": child })).await.data();
    let consents = app
        .graphql(
            Some(&key),
            "query($c: ID!) { child(id: $c) { consents { givenBy { email } } } }",
            json!({ "c": child }),
        )
        .await;
    assert_eq!(consents.error_code(), Some("FORBIDDEN"), "{}", consents.body);
    assert_eq!(app.graphql(Some(&key), "{ me { email } }", json!({})).await.data()["me"]["email"], fixtures::ADMIN);
    let counsellor = app
        .graphql(
            Some(&key),
            "query($u: ID!) { node(id: $u) { id } }",
            json!({ "u": global_id("User", world.counsellor) }),
        )
        .await;
    assert_eq!(counsellor.error_code(), Some("NOT_FOUND"), "{}", counsellor.body);
    // Nothing of another organisation, and a key may not be made of another's children.
    let foreign = app
        .graphql(
            Some(&key),
            "query($c: ID!) { child(id: $c) { id } }",
            json!({ "c": global_id("Child", world.foreign) }),
        )
        .await;
    assert_eq!(foreign.error_code(), Some("NOT_FOUND"));
    let foreign_key = app
        .graphql(
            Some(&admin),
            CREATE,
            json!({ "name": "x", "scope": "REPORTS", "children": [global_id("Child", world.foreign)] }),
        )
        .await;
    assert_eq!(foreign_key.error_code(), Some("NOT_FOUND"), "{}", foreign_key.body);
    let admin_b = app.login(ADMIN_B, fixtures::PASSWORD).await;
    let revoke_foreign = app.graphql(Some(&admin_b), REVOKE, json!({ "id": other_key_id })).await;
    assert_eq!(revoke_foreign.error_code(), Some("NOT_FOUND"), "another organisation's admin: {}", revoke_foreign.body);
    assert_eq!(app.graphql(Some(&admin_b), KEYS, json!({})).await.data()["apiKeys"], json!([]));
    // Only admins manage keys.
    for email in [COUNSELLOR, GUARDIAN] {
        let token = app.login(email, fixtures::PASSWORD).await;
        let response = app.graphql(Some(&token), CREATE, json!({ "name": "x", "scope": "REPORTS" })).await;
        assert_eq!(response.error_code(), Some("FORBIDDEN"), "{email}");
    }
    // A forged key proves nothing.
    let forged = app.graphql(Some("imk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "{ me { id } }", json!({})).await;
    assert_eq!(forged.error_code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn bad_keys_are_refused_with_a_reason() {
    let (app, world, admin) = app().await;
    let child = global_id("Child", world.own);
    for (variables, why) in [
        (json!({ "name": "x", "scope": "REPORTS", "children": [] }), "no children"),
        (json!({ "name": "x", "scope": "REPORTS", "expires": "2020-01-01T00:00:00Z" }), "expired already"),
        (json!({ "name": "", "scope": "REPORTS" }), "no name"),
        (json!({ "name": "x".repeat(101), "scope": "REPORTS" }), "too long a name"),
        (json!({ "name": "x", "scope": "REPORTS", "children": [global_id("Session", world.own)] }), "not a child id"),
    ] {
        let response = app.graphql(Some(&admin), CREATE, variables).await;
        assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{why}: {}", response.body);
    }
    let too_many: Vec<String> = (0..1001).map(|_| child.clone()).collect();
    let response =
        app.graphql(Some(&admin), CREATE, json!({ "name": "x", "scope": "REPORTS", "children": too_many })).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
    assert_eq!(app.graphql(Some(&admin), KEYS, json!({})).await.data()["apiKeys"], json!([]), "nothing was made");
}

#[tokio::test]
async fn a_key_ends_with_its_expiry_and_with_its_creators_rights() {
    let (app, world, admin) = app_with(|settings| settings.api_key_check_ms = 100).await;
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let created =
        app.graphql(Some(&admin), CREATE, json!({ "name": "short", "scope": "REPORTS", "expires": expires })).await;
    let short = created.data()["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let (_, lasting) = app.create_api_key(&admin, "REPORTS", None).await;
    assert!(app.graphql(Some(&short), "{ me { id } }", json!({})).await.error_code().is_none());
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(app.graphql(Some(&short), "{ me { id } }", json!({})).await.error_code(), Some("UNAUTHENTICATED"));

    // Its creator demoted: the key stops (a key never outlives its admin's rights).
    assert!(app.graphql(Some(&lasting), "{ me { id } }", json!({})).await.error_code().is_none());
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    let demote = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE users SET role = 'COUNSELLOR' WHERE id = $1",
        _ => "UPDATE users SET role = 'COUNSELLOR' WHERE id = ?",
    };
    app.db.execute_raw(Statement::from_sql_and_values(backend, demote, [world.admin.into()])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.graphql(Some(&lasting), "{ me { id } }", json!({})).await.error_code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn a_restricted_key_stays_restricted_when_its_children_are_erased() {
    let (app, world, admin) = app().await;
    let (_, key) = app.create_api_key(&admin, "REPORTS", Some(&[world.own])).await;
    let count = "{ children { totalCount } }";
    assert_eq!(app.graphql(Some(&key), count, json!({})).await.data()["children"]["totalCount"], 1);
    let erased = app
        .graphql(
            Some(&admin),
            "mutation($c: ID!) { deleteChild(id: $c) }",
            json!({ "c": global_id("Child", world.own) }),
        )
        .await;
    assert!(erased.error_code().is_none(), "{}", erased.body);
    let after = app.graphql(Some(&key), count, json!({})).await;
    assert_eq!(after.data()["children"]["totalCount"], 0, "never widened to every child: {}", after.body);
}

#[tokio::test]
async fn a_keys_operations_at_once_are_bounded_on_all_its_sockets() {
    let (app, world, admin) = app_with(|settings| settings.api_key_max_subscriptions = 2).await;
    let (_, key) = app.create_api_key(&admin, "REPORTS", None).await;
    let dashboard = "subscription($c: ID!) { sessionEvents(childId: $c) { kind } }";
    let child = json!({ "c": global_id("Child", world.own) });
    let mut first = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&key)).await.unwrap();
    let mut second = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&key)).await.unwrap();
    first.subscribe("a", dashboard, child.clone()).await.unwrap();
    second.subscribe("b", dashboard, child.clone()).await.unwrap();
    // A socket's messages are handled in order: once each answers a ping, both run (waiting
    // for events), and a third, on either socket, is refused.
    for socket in [&mut first, &mut second] {
        socket.send_text(r#"{"type":"ping"}"#).await.unwrap();
        assert_eq!(socket.receive().await.unwrap().unwrap()["type"], "pong");
    }
    second.subscribe("c", dashboard, child.clone()).await.unwrap();
    match first_event(&mut second).await {
        Event::Error(payload) => assert_eq!(payload[0]["extensions"]["code"], "TOO_MANY_REQUESTS", "{payload}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // One ends: there is room again.
    first.send_text(r#"{"id":"a","type":"complete"}"#).await.unwrap();
    assert!(matches!(first_event(&mut first).await, Event::Complete), "its end is confirmed");
    second.subscribe("d", "{ children { totalCount } }", json!({})).await.unwrap();
    match first_event(&mut second).await {
        Event::Next(payload) => assert_eq!(payload["data"]["children"]["totalCount"], 2, "{payload}"),
        other => panic!("expected data, got {other:?}"),
    }
}
