//! A small GraphQL-over-WebSocket client speaking both protocols the gateway serves:
//! `graphql-transport-ws` and the legacy `graphql-ws` (subscriptions-transport-ws). The
//! reference npm `graphql-ws` client (tests/ws-client) covers the first protocol end to end;
//! this one also speaks the legacy protocol and is light enough for thousands of connections
//! in the subscription benchmark.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws` (the npm `graphql-ws` library).
    TransportWs,
    /// Legacy `graphql-ws` (Apollo's subscriptions-transport-ws).
    Legacy,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }
}

/// What arrives for a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `{data, errors?}`.
    Next(Value),
    /// The subscription failed (e.g. refused); the payload holds the GraphQL errors.
    Error(Value),
    Complete,
    /// The server closed the connection.
    Closed(Option<(u16, String)>),
}

pub struct GraphQLSocket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: Protocol,
    /// Server keep-alives seen (`ka` messages or WebSocket pings).
    pub keepalives: usize,
}

impl GraphQLSocket {
    /// Connects and sends `connection_init` with the token. `Err` carries why the server
    /// refused (its close code and reason, or the legacy `connection_error` payload).
    pub async fn connect(http_address: &str, protocol: Protocol, token: Option<&str>) -> Result<Self, String> {
        let mut socket = Self::open(http_address, protocol).await?;
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        socket.send(json!({ "type": "connection_init", "payload": payload })).await?;
        loop {
            match socket.receive().await {
                Some(Ok(message)) => match message["type"].as_str() {
                    Some("connection_ack") => return Ok(socket),
                    Some("connection_error") => return Err(message["payload"].to_string()),
                    _ => continue,
                },
                Some(Err(closed)) => return Err(format!("{closed:?}")),
                None => return Err("closed without a reason".into()),
            }
        }
    }

    /// Opens the WebSocket without sending anything (for protocol tests).
    pub async fn open(http_address: &str, protocol: Protocol) -> Result<Self, String> {
        let url = format!("{}/graphql", http_address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(protocol.name()));
        // tungstenite zeroes its whole read buffer (128 KiB by default) before every read: with
        // thousands of connections that memset was half the clients' CPU in the benchmark.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (stream, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { stream, protocol, keepalives: 0 })
    }

    /// Sends any text, well-formed or not.
    pub async fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.stream.send(Message::Text(text.into())).await.map_err(|e| e.to_string())
    }

    async fn send(&mut self, message: Value) -> Result<(), String> {
        self.stream.send(Message::Text(message.to_string().into())).await.map_err(|e| e.to_string())
    }

    /// The next GraphQL protocol message other than keep-alives; `Err` when the server closed
    /// the connection.
    pub async fn receive(&mut self) -> Option<Result<Value, Option<(u16, String)>>> {
        loop {
            match self.stream.next().await? {
                Ok(Message::Text(text)) => {
                    let message: Value = serde_json::from_str(&text).ok()?;
                    match message["type"].as_str() {
                        Some("ka") => self.keepalives += 1,
                        Some("ping") => {
                            let _ = self.send(json!({ "type": "pong" })).await;
                        }
                        _ => return Some(Ok(message)),
                    }
                }
                Ok(Message::Ping(_)) => self.keepalives += 1,
                Ok(Message::Close(frame)) => {
                    return Some(Err(frame.map(|frame| (u16::from(frame.code), frame.reason.to_string()))));
                }
                Ok(_) => {}
                Err(_) => return Some(Err(None)),
            }
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) -> Result<(), String> {
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::Legacy => "start",
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await
    }

    /// The next event of any subscription on this connection, with its id.
    pub async fn next(&mut self) -> (Option<String>, Event) {
        match self.receive().await {
            None => (None, Event::Closed(None)),
            Some(Err(frame)) => (None, Event::Closed(frame)),
            Some(Ok(message)) => {
                let id = message["id"].as_str().map(str::to_owned);
                let event = match message["type"].as_str() {
                    Some("next" | "data") => Event::Next(message["payload"].clone()),
                    Some("error") => Event::Error(message["payload"].clone()),
                    Some("complete") => Event::Complete,
                    _ => Event::Error(message),
                };
                (id, event)
            }
        }
    }

    /// The TCP connection under the WebSocket, for a reader that parses frames itself (the
    /// subscription benchmark). Only to be used while no message is half-read.
    pub fn tcp_stream(&mut self) -> &mut TcpStream {
        match self.stream.get_mut() {
            MaybeTlsStream::Plain(stream) => stream,
            _ => panic!("the test client connects without TLS"),
        }
    }

    /// Every event of one subscription until it completes, fails or the connection closes.
    pub async fn collect(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let (_, event) = self.next().await;
            let end = !matches!(event, Event::Next(_));
            events.push(event);
            if end {
                return events;
            }
        }
    }
}
