//! `/graphql`: POST runs a request (JSON, or the multipart request spec with its file left to
//! arrive while the request runs); GET upgrades to a subscription socket, or shows the
//! playground.

use std::time::Duration;

use async_graphql::{
    ErrorExtensionValues, ParseRequestError,
    http::{MultipartOptions, WebSocketProtocols},
};
use async_graphql_axum::GraphQLResponse;
use axum::{
    body::{Body, BodyDataStream},
    extract::{FromRequestParts, State, WebSocketUpgrade},
    http::{HeaderMap, Request, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{HttpState, REQUEST_ID, playground};
use crate::{
    auth::Caller,
    error::code,
    graphql::{self, AppSchema, RequestContext},
    multipart::{self, FilePump, LiveFile, MultipartError},
};

/// Largest non-multipart GraphQL request body (queries and variables, no files).
const MAX_JSON_BODY: usize = 4 << 20;

/// A request refused before it reaches the schema: the HTTP status, and the GraphQL error.
struct Rejection {
    status: StatusCode,
    message: String,
    code: &'static str,
    request_id: Option<String>,
}

impl Rejection {
    fn new(status: StatusCode, message: impl Into<String>, code: &'static str) -> Self {
        Self { status, message: message.into(), code, request_id: None }
    }

    /// An internal failure before the request reached the schema: logged here, masked there.
    fn internal(error: crate::error::ApiError, request_id: &str) -> Self {
        tracing::error!(error = %error, "before the GraphQL request");
        let message = format!("{} (request id {request_id})", crate::error::INTERNAL_MESSAGE);
        Self {
            request_id: Some(request_id.to_owned()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, message, code::INTERNAL)
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut error = async_graphql::ServerError::new(self.message, None);
        let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
        extensions.set("code", self.code);
        if let Some(request_id) = self.request_id {
            extensions.set("requestId", request_id);
        }
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
pub(super) async fn post(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    state.app.metrics.graphql_requests.inc();
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (request, live) = match read_request(&state, &headers, body).await {
        Ok(read) => read,
        Err(rejection) => return rejection.into_response(),
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.to_str().unwrap_or_default());
    let caller = match Caller::from_authorization(authorization, &state.app.jwt).checked(&state.app.sign_ins).await {
        Ok(caller) => caller,
        Err(error) => return Rejection::internal(error, &request_id).into_response(),
    };
    let loader = graphql::request_loader(&state.app);
    let request = request.data(RequestContext { caller, request_id }).data(loader);
    GraphQLResponse::from(execute(&state.schema, request, live).await).into_response()
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
    if let Some(content_type) = content_type.as_deref().filter(|t| t.starts_with("multipart/")) {
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
        let parsed = reader.read(length, max, copy.to_path_buf()).await.map_err(rejection)?;
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
pub(super) async fn get(State(state): State<HttpState>, request: Request<Body>) -> Response {
    let (mut parts, _) = request.into_parts();
    let upgrade =
        parts.headers.get(header::UPGRADE).is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !upgrade {
        return playground().await.into_response();
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
        .on_upgrade(move |socket| crate::ws::serve(socket, protocol, state.app, state.subscriptions))
}
