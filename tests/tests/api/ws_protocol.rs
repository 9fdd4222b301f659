//! The WebSocket protocols' rules, message by message, against a running gateway: what a
//! client that gets the protocol wrong is told, ping/pong, unsubscribing, and operations other
//! than subscriptions sent over the socket.

use imind_tests::{
    TestApp,
    fixtures::{self, COUNSELLOR, World, global_id},
    spawn_app, spawn_app_with,
    ws::{Event, GraphQLSocket, Protocol},
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DASHBOARD: &str = "subscription($c: ID!) { sessionEvents(childId: $c) { kind } }";

async fn app() -> (TestApp, World, String) {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    (app, world, token)
}

fn subscribe(id: &str, query: &str, variables: Value) -> String {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }).to_string()
}

/// The close code the server ends the connection with (after any other messages).
async fn close_code(socket: &mut GraphQLSocket) -> Option<u16> {
    loop {
        match socket.next().await.1 {
            Event::Closed(frame) => return frame.map(|(code, _)| code),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn protocol_violations_close_with_the_graphql_transport_ws_codes() {
    let (app, world, token) = app().await;
    let child = json!({ "c": global_id("Child", world.own) });
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });

    // Subscribing before the connection is acknowledged: 4401.
    let mut socket = GraphQLSocket::open(&app.address, Protocol::TransportWs).await.unwrap();
    socket.send_text(&subscribe("1", DASHBOARD, child.clone())).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(4401));

    // A message that isn't one of the protocol's: 4400.
    let mut socket = GraphQLSocket::open(&app.address, Protocol::TransportWs).await.unwrap();
    socket.send_text(r#"{"type":"subscribe","id":1}"#).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(4400));
    let mut socket = GraphQLSocket::open(&app.address, Protocol::TransportWs).await.unwrap();
    socket.send_text("not json").await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(4400));

    // A second connection_init: 4429 (legacy: a connection_error first).
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    socket.send_text(&init.to_string()).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(4429));
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::Legacy, Some(&token)).await.unwrap();
    socket.send_text(&init.to_string()).await.unwrap();
    let refusal = socket.receive().await.unwrap().unwrap();
    assert_eq!(refusal["type"], "connection_error", "{refusal}");

    // A subscription id that is still in use: 4409.
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    socket.send_text(&subscribe("same", DASHBOARD, child.clone())).await.unwrap();
    socket.send_text(&subscribe("same", DASHBOARD, child)).await.unwrap();
    assert_eq!(close_code(&mut socket).await, Some(4409));
}

#[tokio::test]
async fn a_socket_that_never_initialises_is_closed_with_4408() {
    const DEADLINE: Duration = Duration::from_millis(300);
    let app = spawn_app_with(false, |settings| settings.ws_init_timeout_ms = DEADLINE.as_millis() as u64).await;
    World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        let opened = Instant::now();
        let mut silent = GraphQLSocket::open(&app.address, protocol).await.unwrap();
        let code = tokio::time::timeout(Duration::from_secs(5), close_code(&mut silent)).await;
        assert_eq!(code, Ok(Some(4408)), "{protocol:?}");
        let waited = opened.elapsed();
        assert!(waited >= DEADLINE && waited < Duration::from_secs(5), "{protocol:?}: closed after {waited:?}");
    }

    // A client that initialised in time keeps its socket past the deadline.
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    tokio::time::sleep(DEADLINE * 2).await;
    socket.send_text(r#"{"type":"ping"}"#).await.unwrap();
    assert_eq!(socket.receive().await.unwrap().unwrap(), json!({ "type": "pong" }), "still open");
}

#[tokio::test]
async fn pings_are_answered_and_unsubscribed_ids_can_be_reused() {
    let (app, world, token) = app().await;
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    socket.send_text(r#"{"type":"ping","payload":{"sent":42}}"#).await.unwrap();
    let pong = socket.receive().await.unwrap().unwrap();
    assert_eq!(pong, json!({ "type": "pong", "payload": { "sent": 42 } }));

    // A dashboard runs until the client completes it; the server confirms, and the id is free.
    let child = json!({ "c": global_id("Child", world.own) });
    socket.send_text(&subscribe("d", DASHBOARD, child.clone())).await.unwrap();
    socket.send_text(r#"{"type":"complete","id":"d"}"#).await.unwrap();
    assert_eq!(socket.next().await, (Some("d".into()), Event::Complete));
    socket.send_text(&subscribe("d", DASHBOARD, child)).await.unwrap();
    socket.send_text(r#"{"type":"ping"}"#).await.unwrap();
    assert_eq!(socket.receive().await.unwrap().unwrap(), json!({ "type": "pong" }), "still open");
}

#[tokio::test]
async fn identical_mutations_over_the_socket_each_run() {
    // Identical subscriptions of one user share an execution; identical mutations must not.
    let (app, world, token) = app().await;
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    let create = "mutation($c: ID!) { createSession(input: {childId: $c, title: \"Twice\",
        recordedAt: \"2026-11-01T10:00:00Z\"}) { id } }";
    let child = json!({ "c": global_id("Child", world.own) });
    socket.send_text(&subscribe("1", create, child.clone())).await.unwrap();
    socket.send_text(&subscribe("2", create, child)).await.unwrap();
    let mut created = Vec::new();
    while created.len() < 2 {
        match socket.next().await {
            (_, Event::Next(payload)) => {
                created.push(payload["data"]["createSession"]["id"].as_str().unwrap().to_owned())
            }
            (_, Event::Complete) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_ne!(created[0], created[1], "two sessions were created");
}
