//! What one client may hold on the subscription endpoint: message size, operations per
//! socket, sockets per user.

use std::time::Duration;

use futures_util::SinkExt;
use imind_tests::{
    fixtures::{self, COUNSELLOR, World},
    spawn_app_with,
    ws::{Event, GraphQLSocket, Protocol},
};
use serde_json::json;

const PING: &str =
    "subscription { sessionEvents(childId: \"Q2hpbGQ6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw\") { kind } }";

#[tokio::test]
async fn an_oversized_message_is_refused_before_it_is_read() {
    let app = spawn_app_with(false, |_| {}).await;
    let url = format!("{}/graphql", app.address.replacen("http", "ws", 1));
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // Two megabytes before `connection_init`: not a message the server should buffer whole.
    let huge = format!(r#"{{"type":"connection_init","payload":{{"x":"{}"}}}}"#, "a".repeat(2 << 20));
    let _ = socket.send(Message::text(huge)).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        use futures_util::StreamExt;
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|frame| u16::from(frame.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the server ends the socket");
    assert_eq!(closed, Some(1009), "closed as too big, not read and parsed (4400)");
}

#[tokio::test]
async fn a_socket_runs_a_bounded_number_of_operations() {
    let app = spawn_app_with(false, |settings| settings.ws_max_subscriptions = 3).await;
    World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        let mut socket = GraphQLSocket::connect(&app.address, protocol, Some(&token)).await.unwrap();
        for id in ["1", "2", "3", "4"] {
            socket.subscribe(id, PING, json!({})).await.unwrap();
        }
        // The first three are running (and waiting for events); the fourth is refused.
        let (id, event) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap();
        assert_eq!(id.as_deref(), Some("4"), "{protocol:?}");
        let Event::Error(payload) = event else { panic!("{protocol:?}: {event:?}") };
        let error = if payload.is_array() { payload[0].clone() } else { payload };
        assert_eq!(error["extensions"]["code"], "TOO_MANY_REQUESTS", "{protocol:?}: {error}");
    }
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_sockets() {
    let app = spawn_app_with(false, |settings| settings.ws_max_sockets_per_user = 2).await;
    World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let first = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    let _second = GraphQLSocket::connect(&app.address, Protocol::Legacy, Some(&token)).await.unwrap();
    let refused = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await;
    assert!(refused.err().expect("a third socket is refused").contains("1008"));
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.is_ok());
}
