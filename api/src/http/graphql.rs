//! `/graphql`: POST runs a request (JSON, or the multipart request spec with its file left to
//! arrive while the request runs); GET upgrades to a subscription socket, or shows the
//! playground.

use std::{net::SocketAddr, time::Duration};

use async_graphql::{
    ErrorExtensionValues, ParseRequestError, Value,
    http::{MultipartOptions, WebSocketProtocols},
};
use async_graphql_axum::GraphQLResponse;
use axum::{
    body::{Body, BodyDataStream, Bytes},
    extract::{ConnectInfo, FromRequestParts, State, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{HttpState, REQUEST_ID, playground};
use crate::{
    auth::Caller,
    error::{ApiError, code},
    graphql::{
        self, AppSchema, RequestContext,
        response_reuse::{self, Reuse, ReuseSlot},
    },
    multipart::{self, FilePump, LiveFile, MultipartError},
    rate_limits::{Allowance, Refusal},
};

/// Largest non-multipart GraphQL request body (queries and variables, no files).
const MAX_JSON_BODY: usize = 4 << 20;

/// A request refused before it reaches the schema: the HTTP status, and the GraphQL error.
struct Rejection {
    status: StatusCode,
    message: String,
    code: &'static str,
}

impl Rejection {
    fn new(status: StatusCode, message: impl Into<String>, code: &'static str) -> Self {
        Self { status, message: message.into(), code }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut error = async_graphql::ServerError::new(self.message, None);
        error.extensions.get_or_insert_with(ErrorExtensionValues::default).set("code", self.code);
        let mut http = GraphQLResponse::from(async_graphql::Response::from_errors(vec![error])).into_response();
        *http.status_mut() = self.status;
        http
    }
}

/// A multipart request's file part, still arriving.
struct LiveUpload {
    /// What the resolver reads.
    file: LiveFile,
    /// The task that feeds it from the request body.
    pump: FilePump<BodyDataStream>,
    /// The local copy, removed once the request is answered.
    copy: tempfile::TempPath,
}

/// `POST /graphql`.
pub(super) async fn post(
    State(state): State<HttpState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state.app.metrics.graphql_requests.inc();
    // Before the body is read: a flood from one address costs it nothing more.
    let by_address = match state.app.rate_limits.address_request(client.ip()) {
        Ok(allowance) => allowance,
        Err(refusal) => return too_many_requests(&refusal),
    };
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (request, live) = match read_request(&state, &headers, body).await {
        Ok(read) => read,
        Err(rejection) => {
            let mut http = rejection.into_response();
            rate_limit_headers(http.headers_mut(), &by_address);
            return http;
        }
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.to_str().unwrap_or_default());
    let caller = Caller::from_authorization(authorization, &state.app.jwt);
    let loader = graphql::request_loader(&state.app);
    let reuse = ReuseSlot::default();
    let context = RequestContext::new(caller, request_id, Some(client.ip())).with_reuse(reuse.clone());
    let by_caller = context.allowance.clone();
    let response = execute(&state.schema, request.data(context).data(loader), live).await;
    let retry_after = throttled(&response);
    let reused = reuse.lock().expect("not poisoned").take();
    let mut http = match reused {
        // What an outer layer added after the cache answered (none does today) wins.
        Some(Reuse::Served(body)) if response.errors.is_empty() => json_response(body, &response),
        reused => {
            let body = Bytes::from(serde_json::to_vec(&response).expect("a GraphQL response is JSON"));
            response_reuse::keep(&state.app, reused, &body);
            json_response(body, &response)
        }
    };
    // The caller's own bucket once known; the address's for callers without credentials.
    rate_limit_headers(http.headers_mut(), by_caller.get().unwrap_or(&by_address));
    if let Some(seconds) = retry_after {
        *http.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        http.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    http
}

/// A GraphQL response as async-graphql's own responder sends it, from its JSON.
fn json_response(body: Bytes, response: &async_graphql::Response) -> Response {
    let mut http = Response::new(Body::from(body));
    http.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/graphql-response+json"));
    http.headers_mut().extend(response.http_headers.clone());
    http
}

/// 429, with `Retry-After` and the empty bucket's headers.
fn too_many_requests(refusal: &Refusal) -> Response {
    let message = ApiError::TooManyRequests(refusal.retry_after).to_string();
    let mut http = Rejection::new(StatusCode::TOO_MANY_REQUESTS, message, code::TOO_MANY_REQUESTS).into_response();
    rate_limit_headers(http.headers_mut(), &refusal.allowance);
    http.headers_mut().insert(header::RETRY_AFTER, refusal.retry_after.as_secs().into());
    http
}

/// `RateLimit-Limit` (what may be sent at once), `RateLimit-Remaining`, `RateLimit-Reset`
/// (seconds until full again) and `RateLimit-Policy` (the rate, per 60 s window).
fn rate_limit_headers(headers: &mut HeaderMap, allowance: &Allowance) {
    headers.insert("ratelimit-limit", allowance.limit.into());
    headers.insert("ratelimit-remaining", allowance.remaining.into());
    headers.insert("ratelimit-reset", allowance.reset_secs.into());
    let policy = format!("{};w=60;burst={}", allowance.per_minute, allowance.limit);
    headers.insert("ratelimit-policy", HeaderValue::from_str(&policy).expect("digits and ASCII"));
}

/// The seconds to wait, when the request was refused for going over a rate limit.
fn throttled(response: &async_graphql::Response) -> Option<u64> {
    response.errors.iter().find_map(|error| {
        let extensions = error.extensions.as_ref()?;
        let is_throttled =
            matches!(extensions.get("code"), Some(Value::String(code)) if code == code::TOO_MANY_REQUESTS);
        match extensions.get("retryAfter") {
            Some(Value::Number(seconds)) if is_throttled => seconds.as_u64(),
            _ => None,
        }
    })
}

/// Reads a GraphQL request: JSON, or the multipart request spec, whose file part is left to
/// arrive while the request runs (never held in memory; at most `max_upload_bytes`).
async fn read_request(
    state: &HttpState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(async_graphql::Request, Option<LiveUpload>), Rejection> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let idle = Duration::from_secs(state.app.settings.body_timeout_secs.max(1));
    // Media types are case-insensitive: `Multipart/Form-Data` is ours to read too, never
    // async-graphql's (which would spool any number of files of any size).
    let multipart =
        content_type.as_deref().filter(|t| t.get(..10).is_some_and(|p| p.eq_ignore_ascii_case("multipart/")));
    if let Some(content_type) = multipart {
        let max = state.app.settings.max_upload_bytes;
        let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let rejection = |error: MultipartError| match error {
            MultipartError::TooLarge(_) => Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("videos may have at most {max} bytes"),
                code::PAYLOAD_TOO_LARGE,
            ),
            other => Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("unreadable GraphQL request: {other}"),
                code::BAD_USER_INPUT,
            ),
        };
        let copy = state.app.videos().temp_file().map_err(|error| {
            tracing::error!(%error, "no room for an upload");
            Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, "no room for the upload", code::INTERNAL)
        })?;
        let reader = multipart::Reader::new(body.into_data_stream(), content_type, idle).map_err(rejection)?;
        // The parts before the file are small: they get the whole pause allowance in all, not
        // per chunk (the file part may take as long as it keeps moving).
        let parsed = tokio::time::timeout(idle, reader.read(length, max, copy.to_path_buf()))
            .await
            .map_err(|_| {
                let message = format!("the request's parts did not arrive within {} s", idle.as_secs());
                Rejection::new(StatusCode::REQUEST_TIMEOUT, message, code::BAD_USER_INPUT)
            })?
            .map_err(rejection)?;
        return Ok((parsed.request, parsed.file.map(|(file, pump)| LiveUpload { file, pump, copy })));
    }
    let read = tokio::time::timeout(idle, axum::body::to_bytes(body, MAX_JSON_BODY)).await.map_err(|_| {
        let message = format!("the request body did not arrive within {} s", idle.as_secs());
        Rejection::new(StatusCode::REQUEST_TIMEOUT, message, code::BAD_USER_INPUT)
    })?;
    let bytes = read.map_err(|_| {
        let message = format!("a GraphQL request without files may have at most {MAX_JSON_BODY} bytes");
        Rejection::new(StatusCode::PAYLOAD_TOO_LARGE, message, code::PAYLOAD_TOO_LARGE)
    })?;
    async_graphql::http::receive_body(content_type, bytes.as_ref(), MultipartOptions::default())
        .await
        .map(|request| (request, None))
        .map_err(|error| match error {
            ParseRequestError::PayloadTooLarge => {
                Rejection::new(StatusCode::PAYLOAD_TOO_LARGE, "the request is too large", code::PAYLOAD_TOO_LARGE)
            }
            other => Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("unreadable GraphQL request: {other}"),
                code::BAD_USER_INPUT,
            ),
        })
}

/// Runs the request while its file part (if any) streams in. The file stops being read as soon
/// as the request is answered (e.g. refused before reading it).
async fn execute(
    schema: &AppSchema,
    request: async_graphql::Request,
    live: Option<LiveUpload>,
) -> async_graphql::Response {
    let Some(LiveUpload { file, pump, copy }) = live else { return schema.execute(request).await };
    // Its own task: receiving and parsing run beside the resolver's hashing and writing.
    let pump = tokio::spawn(pump.run());
    let response = schema.execute(request.data(file)).await;
    pump.abort();
    drop(copy);
    response
}

/// `GET /graphql`: subscriptions when it is a WebSocket upgrade, else the playground.
pub(super) async fn get(
    State(state): State<HttpState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let upgrade =
        parts.headers.get(header::UPGRADE).is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !upgrade {
        return playground::page().await.into_response();
    }
    // The first subprotocol offered that we speak; none named means the legacy protocol.
    let offered = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|value| value.to_str().ok());
    let protocol = match offered {
        None => WebSocketProtocols::SubscriptionsTransportWS,
        Some(offered) => match offered.split(',').find_map(|name| name.trim().parse().ok()) {
            Some(protocol) => protocol,
            None => return (StatusCode::BAD_REQUEST, "unsupported WebSocket subprotocol").into_response(),
        },
    };
    // A socket's `connection_init` looks up its credential: sockets count as requests of the
    // address that opens them.
    if let Err(refusal) = state.app.rate_limits.address_request(client.ip()) {
        return too_many_requests(&refusal);
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    state.app.metrics.graphql_requests.inc();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        // Subscription traffic is small JSON; tungstenite's 128 KiB default read buffer per
        // connection would dominate a gateway's memory with many subscribers.
        .read_buffer_size(4 << 10)
        .max_message_size(state.app.settings.ws_max_message_bytes)
        .max_frame_size(state.app.settings.ws_max_message_bytes)
        .on_upgrade(move |socket| crate::ws::serve(socket, protocol, state.app, state.subscriptions, client.ip()))
}
