//! GraphQL subscriptions over WebSocket: `graphql-transport-ws` and the legacy `graphql-ws`
//! (subscriptions-transport-ws) protocol on `GET /graphql`.
//!
//! The access token comes in the `connection_init` payload (`{"Authorization": "Bearer …"}`);
//! a missing or invalid one refuses the connection (4403; legacy: `connection_error`). A socket
//! lives no longer than its token: it is closed with 4403 when the token expires (clients then
//! reconnect with a fresh one), and each operation it starts first checks that the token's
//! sign-in and user still stand (closing with 4403 if not). The
//! server keeps idle connections alive (legacy: `ka` messages; graphql-transport-ws: WebSocket
//! pings, answered by every client) and closes them with 1001 "going away" when the process
//! shuts down. Protocol errors close with the codes graphql-transport-ws defines: 4400
//! unreadable message, 4401 subscribe before `connection_ack`, 4408 no `connection_init`
//! within 10 s (`ws_init_timeout_ms`), 4409 subscription id in use, 4429 a second `connection_init`.
//!
//! The protocol is spoken here rather than through async-graphql's `WebSocket` stream so that
//! one event reaching thousands of subscribers is serialised once (`graphql::fanout`) and each
//! connection only copies the shared bytes into its envelope; messages that are ready together
//! go out in one write.

mod protocol;

use std::{future::poll_fn, net::IpAddr, sync::Arc, task::Poll, time::Duration};

use async_graphql::{
    Data,
    http::{ClientMessage, WebSocketProtocols},
};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use chrono::Utc;
use futures_util::{FutureExt, SinkExt, StreamExt, stream::BoxStream};

use tracing::Instrument;

use crate::{
    auth::{Caller, Credential},
    error::{ApiError, code},
    graphql::{
        self, RequestContext,
        fanout::{Live, SharedSubscriptions},
    },
    rate_limits::Metered,
    sockets::Seat,
    state::AppState,
};

/// At most this many ready messages are written together, so one busy connection can't hold
/// a runtime thread for long.
const MAX_BATCH: usize = 32;
/// How long a write may wait for a client to read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A deadline that never comes (and still fits in an `Instant`).
const FOREVER: Duration = Duration::from_secs(u32::MAX as u64);

/// Speaks `protocol` on `socket` until either side closes it. Its log lines (and masked errors)
/// carry the connection's id.
pub async fn serve(
    socket: WebSocket,
    protocol: WebSocketProtocols,
    app: AppState,
    executor: SharedSubscriptions,
    client: IpAddr,
) {
    let id = uuid::Uuid::new_v4();
    let span = tracing::info_span!("subscriptions", connection = %id, %client, actor = tracing::field::Empty);
    run(socket, protocol, app, executor, id, client).instrument(span).await
}

async fn run(
    mut socket: WebSocket,
    protocol: WebSocketProtocols,
    app: AppState,
    executor: SharedSubscriptions,
    id: uuid::Uuid,
    client: IpAddr,
) {
    let period = Duration::from_secs(app.settings.ws_keepalive_secs.max(1));
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let init_deadline = tokio::time::sleep(Duration::from_millis(app.settings.ws_init_timeout_ms));
    tokio::pin!(init_deadline);
    // A child token of our own: a pending wait locks its token's waiter list on every poll,
    // and every connection polling the one server-wide token would contend for that lock on
    // every event. Made once, not per loop, for the same reason.
    let shutdown = app.shutdown.child_token().cancelled_owned();
    tokio::pin!(shutdown);
    // Armed once the token is known (and then reset, never re-made: see `shutdown`).
    let expiry = tokio::time::sleep(FOREVER);
    tokio::pin!(expiry);
    let mut connection = Connection {
        protocol,
        sampled: id.as_bytes()[0].is_multiple_of(16),
        id: id.to_string(),
        app,
        executor,
        client,
        _seat: None,
        data: None,
        credential: None,
        subscriptions: Vec::new(),
        handed_out: Vec::new(),
    };
    let mut outgoing = Vec::new();
    let closed_by = loop {
        let flow = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => connection.on_message(text.as_bytes(), &mut outgoing).await,
                Some(Ok(Message::Binary(bytes))) => connection.on_message(&bytes, &mut outgoing).await,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued the reply to the client's close frame: send it.
                    let _ = socket.flush().await;
                    break "client";
                }
                Some(Err(error)) if too_big(&error) => {
                    Flow::Close(protocol::close::MESSAGE_TOO_BIG, "message too big".into())
                }
                Some(Err(_)) | None => break "client",
            },
            (index, event) = next_event(&mut connection.subscriptions) => {
                connection.on_event(index, event, &mut outgoing);
                Flow::Continue
            }
            _ = keepalive.tick() => {
                match protocol {
                    WebSocketProtocols::GraphQLWS => outgoing.push(Message::Ping(Default::default())),
                    WebSocketProtocols::SubscriptionsTransportWS if connection.data.is_some() => {
                        outgoing.push(Message::Text(Utf8Bytes::from_static(protocol::KEEP_ALIVE)));
                    }
                    WebSocketProtocols::SubscriptionsTransportWS => {}
                }
                Flow::Continue
            }
            () = &mut init_deadline, if connection.data.is_none() => {
                Flow::Close(protocol::close::INIT_TIMEOUT, "Connection initialisation timeout".into())
            }
            () = &mut expiry, if connection.credential.is_some() => {
                Flow::Close(protocol::close::FORBIDDEN, "the access token expired: reconnect with a fresh one".into())
            }
            () = &mut shutdown => Flow::Close(close_code::AWAY, "server shutting down".into()),
        };
        if let (Some(credential), Flow::Accepted) = (connection.credential, &flow) {
            // A key without an expiry stands until revoked: its "expiry" is the end of time.
            let left = (credential.expires_at - Utc::now()).to_std().unwrap_or_default().min(FOREVER);
            expiry.as_mut().reset(tokio::time::Instant::now() + left);
        }
        // Events already waiting (another subscription's, or the end after a last event) share
        // the write.
        while outgoing.len() < MAX_BATCH {
            let Some((index, event)) = next_event(&mut connection.subscriptions).now_or_never() else { break };
            connection.on_event(index, event, &mut outgoing);
        }
        // A client that stops reading is not waited for forever.
        match tokio::time::timeout(WRITE_TIMEOUT, send_all(&mut socket, &mut outgoing)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break "a failed write",
            Err(_) => break "a client that stopped reading",
        }
        if connection.sampled {
            for published in connection.handed_out.drain(..) {
                connection.app.metrics.subscription_delivery_seconds.observe(published.elapsed().as_secs_f64());
            }
        }
        if let Flow::Close(code, reason) = flow {
            let _ = socket.send(Message::Close(Some(close_frame(code, &reason)))).await;
            break "the server";
        }
    };
    tracing::debug!(closed_by, "subscription connection closed");
}

async fn send_all(socket: &mut WebSocket, outgoing: &mut Vec<Message>) -> Result<(), axum::Error> {
    if outgoing.is_empty() {
        return Ok(());
    }
    for message in outgoing.drain(..) {
        socket.feed(message).await?;
    }
    socket.flush().await
}

/// One connection's protocol state.
struct Connection {
    protocol: WebSocketProtocols,
    /// Stands in for a request id in this connection's logs and masked errors.
    id: String,
    app: AppState,
    executor: SharedSubscriptions,
    /// The caller's context, once `connection_init` was accepted.
    data: Option<Arc<Data>>,
    client: IpAddr,
    /// The connection's place among its user's sockets, once `connection_init` was accepted.
    _seat: Option<Seat>,
    /// What the caller's token proves, once `connection_init` was accepted.
    credential: Option<Credential>,
    subscriptions: Vec<Subscription>,
    /// When the events being written were handed out (see `Metrics::subscription_delivery_seconds`).
    handed_out: Vec<std::time::Instant>,
    /// One connection in 16 records its deliveries: a histogram update takes a lock, and ten
    /// thousand of them per event slowed fan-outs by ~10 %.
    sampled: bool,
}

struct Subscription {
    id: String,
    /// Every data message of this subscription starts with this (see `protocol::next`).
    opening: String,
    events: BoxStream<'static, Live>,
    /// Its place among its API key's operations (on every socket of this gateway), if a key
    /// runs it.
    _key_seat: Option<Seat>,
}

/// What happens to the connection after a message.
enum Flow {
    Continue,
    /// `connection_init` was accepted: the token's expiry is known.
    Accepted,
    /// Close it, after what is queued.
    Close(u16, String),
}

impl Connection {
    async fn on_message(&mut self, bytes: &[u8], outgoing: &mut Vec<Message>) -> Flow {
        let message = match ClientMessage::from_bytes(bytes) {
            Ok(message) => message,
            Err(error) => return Flow::Close(protocol::close::BAD_REQUEST, format!("Invalid message: {error}")),
        };
        match message {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload.unwrap_or_default(), outgoing).await,
            ClientMessage::Start { id, payload } => {
                let (Some(data), Some(credential)) = (self.data.clone(), self.credential) else {
                    return Flow::Close(protocol::close::UNAUTHORIZED, "Unauthorized".into());
                };
                match self.app.sign_ins.stands(&credential).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Flow::Close(protocol::close::FORBIDDEN, "the sign-in has ended: sign in again".into());
                    }
                    Err(error) => {
                        tracing::error!(%error, "checking a subscriber's sign-in");
                        return Flow::Close(close_code::ERROR, "internal error".into());
                    }
                }
                // Every operation counts against the caller's requests, refused or not (its
                // document may cost a look-up before it is refused).
                if let Err(refusal) = self.app.rate_limits.request(Metered::of(&credential.viewer)) {
                    let message = ApiError::TooManyRequests(refusal.retry_after).to_string();
                    outgoing.push(text(protocol::error(self.protocol, &id, &message, code::TOO_MANY_REQUESTS)));
                    return Flow::Continue;
                }
                let replaced = self.subscriptions.iter().any(|s| s.id == id);
                if !replaced && self.subscriptions.len() >= self.app.settings.ws_max_subscriptions {
                    let message = format!("at most {} operations per socket", self.app.settings.ws_max_subscriptions);
                    outgoing.push(text(protocol::error(self.protocol, &id, &message, code::TOO_MANY_REQUESTS)));
                    return Flow::Continue;
                }
                let mut key_seat = None;
                if let Some(key) = credential.viewer.key() {
                    key_seat = self.app.key_subscriptions.take(key.id);
                    if key_seat.is_none() {
                        let most = self.app.settings.api_key_max_subscriptions;
                        let message = format!("at most {most} operations at once per API key, on all its sockets");
                        outgoing.push(text(protocol::error(self.protocol, &id, &message, code::TOO_MANY_REQUESTS)));
                        return Flow::Continue;
                    }
                }
                if let Some(index) = self.subscriptions.iter().position(|s| s.id == id) {
                    if self.protocol == WebSocketProtocols::GraphQLWS {
                        return Flow::Close(
                            protocol::close::SUBSCRIBER_EXISTS,
                            format!("Subscriber for {id} already exists"),
                        );
                    }
                    // The legacy protocol has no such rule: the new operation replaces the old.
                    self.subscriptions.swap_remove(index);
                }
                let events = self.executor.execute(payload, data);
                self.subscriptions.push(Subscription {
                    opening: protocol::next_opening(self.protocol, &id),
                    id,
                    events,
                    _key_seat: key_seat,
                });
                Flow::Continue
            }
            ClientMessage::Stop { id } => {
                if let Some(index) = self.subscriptions.iter().position(|s| s.id == id) {
                    self.subscriptions.swap_remove(index);
                    outgoing.push(text(protocol::complete(&id)));
                }
                Flow::Continue
            }
            ClientMessage::ConnectionTerminate => Flow::Close(close_code::NORMAL, String::new()),
            ClientMessage::Ping { payload } => {
                outgoing.push(text(protocol::pong(payload)));
                Flow::Continue
            }
            ClientMessage::Pong { .. } => Flow::Continue,
        }
    }

    async fn on_init(&mut self, payload: serde_json::Value, outgoing: &mut Vec<Message>) -> Flow {
        let refused = |reason: &str, code: u16, outgoing: &mut Vec<Message>| {
            if self.protocol == WebSocketProtocols::SubscriptionsTransportWS {
                outgoing.push(text(protocol::connection_error(reason)));
            }
            Flow::Close(code, reason.to_owned())
        };
        if self.data.is_some() {
            return refused("Too many initialisation requests", protocol::close::TOO_MANY_INITS, outgoing);
        }
        match connection_data(&self.app, &payload, self.id.clone(), self.client).await {
            Ok((data, credential)) => {
                // A key's sockets count as the key's, not as its creator's.
                let holder = credential.viewer.key().map_or(credential.viewer.user_id, |key| key.id);
                let Some(seat) = self.app.sockets.take(holder) else {
                    let reason = "too many open sockets for this user";
                    return refused(reason, protocol::close::POLICY, outgoing);
                };
                self._seat = Some(seat);
                self.data = Some(Arc::new(data));
                self.credential = Some(credential);
                outgoing.push(Message::Text(Utf8Bytes::from_static(protocol::CONNECTION_ACK)));
                Flow::Accepted
            }
            Err(reason) => refused(reason, protocol::close::FORBIDDEN, outgoing),
        }
    }

    /// An event of subscription `index`, or its end (`None`).
    fn on_event(&mut self, index: usize, event: Option<Live>, outgoing: &mut Vec<Message>) {
        match event {
            Some(live) => {
                outgoing.push(text(protocol::next(&self.subscriptions[index].opening, &live.payload)));
                if self.sampled {
                    self.handed_out.extend(live.published);
                }
            }
            None => {
                let ended = self.subscriptions.swap_remove(index);
                outgoing.push(text(protocol::complete(&ended.id)));
            }
        }
    }
}

/// The next event of any of the connection's subscriptions, with the subscription's index.
/// Never ready without subscriptions.
fn next_event(subscriptions: &mut [Subscription]) -> impl Future<Output = (usize, Option<Live>)> + '_ {
    poll_fn(move |cx| {
        for (index, subscription) in subscriptions.iter_mut().enumerate() {
            if let Poll::Ready(event) = subscription.events.poll_next_unpin(cx) {
                return Poll::Ready((index, event));
            }
        }
        Poll::Pending
    })
}

/// Whether a read failed because the client's message was over the size limit.
fn too_big(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if let Some(tungstenite::Error::Capacity(_)) = error.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn text(message: String) -> Message {
    Message::Text(message.into())
}

/// WebSocket close reasons stop at 123 bytes.
fn close_frame(code: u16, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame { code, reason: reason[..end].into() }
}

/// The connection's caller and loader, from the `connection_init` payload; `Err` says why the
/// connection is refused.
async fn connection_data(
    app: &AppState,
    payload: &serde_json::Value,
    connection_id: String,
    client: IpAddr,
) -> Result<(Data, Credential), &'static str> {
    let header = payload
        .as_object()
        .and_then(|fields| fields.iter().find(|(name, _)| name.eq_ignore_ascii_case("authorization")))
        .map(|(_, value)| value.as_str().unwrap_or_default());
    let internal = |error: crate::error::ApiError| {
        tracing::error!(%error, "checking a subscriber's credential");
        "internal error"
    };
    let credential = match Caller::from_authorization(header, &app.jwt) {
        Caller::Authenticated(credential) => {
            if !app.sign_ins.stands(&credential).await.map_err(internal)? {
                return Err("invalid or expired access token");
            }
            credential
        }
        Caller::Key(secret) => match app.sign_ins.keys().resolve(&secret).await.map_err(internal)? {
            Some(credential) => credential,
            None => return Err("invalid, expired or revoked API key"),
        },
        Caller::Anonymous | Caller::Malformed => {
            return Err(
                r#"authentication required: send {"Authorization": "Bearer <accessToken or API key>"} in connection_init"#,
            );
        }
        Caller::Rejected => return Err("invalid or expired access token"),
    };
    tracing::Span::current().record("actor", tracing::field::display(graphql::actor(&credential.viewer)));
    let mut data = Data::default();
    data.insert(RequestContext::checked(credential, connection_id, Some(client)));
    data.insert(graphql::connection_loader(app));
    Ok((data, credential))
}
