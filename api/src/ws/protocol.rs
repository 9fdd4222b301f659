//! The two GraphQL-over-WebSocket protocols' server messages, written as text directly.
//!
//! A subscription's events are the same serialised GraphQL response for every subscriber (see
//! `graphql::fanout`); only the envelope differs per connection. Each subscription keeps its
//! envelope's opening (`{"type":"next","id":"1","payload":`) so an event costs one copy of the
//! shared payload, not a serialisation.
//!
//! Client messages are parsed with async-graphql's `ClientMessage`, which accepts both
//! protocols' names (`subscribe`/`start`, `complete`/`stop`).

use async_graphql::http::WebSocketProtocols;
use serde_json::{Value, json};

/// Close codes of `graphql-transport-ws` (github.com/enisdenjo/graphql-ws, PROTOCOL.md).
pub mod close {
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    /// RFC 6455: a message too big to process.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// RFC 6455: the connection breaks a policy (too many sockets).
    pub const POLICY: u16 = 1008;
}

pub const CONNECTION_ACK: &str = r#"{"type":"connection_ack"}"#;
/// Legacy keep-alive.
pub const KEEP_ALIVE: &str = r#"{"type":"ka"}"#;

/// What starts every data message of subscription `id`; the payload and a closing brace follow.
pub fn next_opening(protocol: WebSocketProtocols, id: &str) -> String {
    let kind = match protocol {
        WebSocketProtocols::GraphQLWS => "next",
        WebSocketProtocols::SubscriptionsTransportWS => "data",
    };
    format!(r#"{{"type":"{kind}","id":{},"payload":"#, Value::from(id))
}

/// One data message: `opening` (from [`next_opening`]) around a serialised response.
pub fn next(opening: &str, payload: &str) -> String {
    let mut message = String::with_capacity(opening.len() + payload.len() + 1);
    message.push_str(opening);
    message.push_str(payload);
    message.push('}');
    message
}

/// An operation refused before it started.
pub fn error(protocol: WebSocketProtocols, id: &str, message: &str, code: &str) -> String {
    let error = json!({ "message": message, "extensions": { "code": code } });
    match protocol {
        WebSocketProtocols::GraphQLWS => json!({ "type": "error", "id": id, "payload": [error] }),
        WebSocketProtocols::SubscriptionsTransportWS => json!({ "type": "error", "id": id, "payload": error }),
    }
    .to_string()
}

pub fn complete(id: &str) -> String {
    json!({ "type": "complete", "id": id }).to_string()
}

pub fn pong(payload: Option<Value>) -> String {
    match payload {
        Some(payload) => json!({ "type": "pong", "payload": payload }).to_string(),
        None => r#"{"type":"pong"}"#.to_owned(),
    }
}

/// The legacy protocol's refusal of a connection.
pub fn connection_error(message: &str) -> String {
    json!({ "type": "connection_error", "payload": { "message": message } }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_messages_wrap_the_shared_payload_in_valid_json() {
        let payload = r#"{"data":{"analysisProgress":{"kind":"PROGRESS"}}}"#;
        for (protocol, kind) in
            [(WebSocketProtocols::GraphQLWS, "next"), (WebSocketProtocols::SubscriptionsTransportWS, "data")]
        {
            let id = "a \"quoted\" id\\";
            let message: Value = serde_json::from_str(&next(&next_opening(protocol, id), payload)).unwrap();
            assert_eq!(message["type"], kind);
            assert_eq!(message["id"], id);
            assert_eq!(message["payload"], serde_json::from_str::<Value>(payload).unwrap());
        }
    }

    #[test]
    fn control_messages_are_valid_json() {
        let complete: Value = serde_json::from_str(&complete("7")).unwrap();
        assert_eq!(complete, json!({ "type": "complete", "id": "7" }));
        assert_eq!(serde_json::from_str::<Value>(&pong(None)).unwrap(), json!({ "type": "pong" }));
        let echoed: Value = serde_json::from_str(&pong(Some(json!({ "t": 1 })))).unwrap();
        assert_eq!(echoed["payload"]["t"], 1);
        let refused: Value = serde_json::from_str(&connection_error("no \"token\"")).unwrap();
        assert_eq!(refused["payload"]["message"], "no \"token\"");
        for text in [CONNECTION_ACK, KEEP_ALIVE] {
            serde_json::from_str::<Value>(text).unwrap();
        }
    }
}
