//! GraphQL subscriptions over WebSocket: `graphql-transport-ws` and the legacy `graphql-ws`
//! (subscriptions-transport-ws) protocol on `GET /graphql`.
//!
//! The access token comes in the `connection_init` payload (`{"Authorization": "Bearer …"}`);
//! a missing or invalid one refuses the connection. The server keeps idle connections alive
//! (legacy: `ka` messages; graphql-transport-ws: WebSocket pings, answered by every client)
//! and closes them with 1001 "going away" when the process shuts down.

use std::time::Duration;

use async_graphql::{
    Data,
    http::{WebSocket as GraphQLMessages, WebSocketProtocols, WsMessage},
};
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt, future};

use crate::{
    app::AppState,
    auth::{Caller, jwt},
    graphql::{self, RequestContext, fanout::SharedSubscriptions},
};

pub async fn serve(socket: WebSocket, protocol: WebSocketProtocols, app: AppState, executor: SharedSubscriptions) {
    let (mut sink, stream) = socket.split();
    let connection_id = uuid::Uuid::new_v4().to_string();
    let input = stream.take_while(|message| future::ready(message.is_ok())).filter_map(|message| {
        future::ready(match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
            _ => None,
        })
    });
    let init_app = app.clone();
    let init_id = connection_id.clone();
    let mut messages = GraphQLMessages::new(executor, input, protocol)
        .on_connection_init(move |payload| future::ready(connection_data(&init_app, &payload, init_id)));
    let period = Duration::from_secs(app.settings.ws_keepalive_secs.max(1));
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut acknowledged = false;
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => {
                    acknowledged = acknowledged || text.contains(r#""connection_ack""#);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    // A refused `connection_init` is 4403 Forbidden in graphql-transport-ws
                    // (async-graphql reports it as a protocol error).
                    let code = if !acknowledged && code == 1002 && protocol == WebSocketProtocols::GraphQLWS {
                        4403
                    } else {
                        code
                    };
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            _ = keepalive.tick() => {
                let message = match protocol {
                    WebSocketProtocols::SubscriptionsTransportWS => Message::Text(r#"{"type":"ka"}"#.into()),
                    WebSocketProtocols::GraphQLWS => Message::Ping(Default::default()),
                };
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            () = app.shutdown.cancelled() => {
                let frame = CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        }
    }
    tracing::debug!(connection = %connection_id, "subscription connection closed");
}

/// The connection's caller and loader, from the `connection_init` payload.
fn connection_data(app: &AppState, payload: &serde_json::Value, connection_id: String) -> async_graphql::Result<Data> {
    let header = payload
        .as_object()
        .and_then(|fields| fields.iter().find(|(name, _)| name.eq_ignore_ascii_case("authorization")))
        .and_then(|(_, value)| value.as_str());
    let Some(token) = header.and_then(jwt::bearer) else {
        return Err(async_graphql::Error::new(
            r#"authentication required: send {"Authorization": "Bearer <accessToken>"} in connection_init"#,
        ));
    };
    let viewer = app.jwt.verify(token).map_err(|reason| {
        tracing::info!(%reason, "refused a subscription connection");
        async_graphql::Error::new("invalid or expired access token")
    })?;
    let mut data = Data::default();
    data.insert(RequestContext { caller: Caller::Authenticated(viewer), request_id: connection_id });
    data.insert(graphql::connection_loader(app));
    Ok(data)
}
