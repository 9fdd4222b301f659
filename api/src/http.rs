//! HTTP routes: `/graphql`, the GraphiQL playground at `/`, health, readiness and metrics.

use std::time::Duration;

use async_graphql::{
    ErrorExtensionValues, ParseRequestError, Value,
    http::{GraphiQLSource, MultipartOptions},
};
use async_graphql_axum::GraphQLResponse;
use axum::{
    Router,
    body::{Body, BodyDataStream},
    extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State, WebSocketUpgrade},
    http::{HeaderMap, HeaderName, Request, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    services::ServeFile,
    trace::TraceLayer,
};

use crate::{
    app::AppState,
    auth::{Caller, jwt},
    error::{INTERNAL_MESSAGE, code},
    graphql::{self, AppSchema, RequestContext, fanout::SharedSubscriptions},
    multipart::{self, FilePump, LiveFile, MultipartError},
    videos,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
struct HttpState {
    app: AppState,
    schema: AppSchema,
    subscriptions: SharedSubscriptions,
}

pub fn router(app: AppState, schema: AppSchema) -> Router {
    let subscriptions = SharedSubscriptions::new(schema.clone());
    let state = HttpState { app, schema, subscriptions };
    Router::new()
        .route("/", get(playground))
        .route("/graphql", get(graphql_get).post(graphql_handler))
        // Uploads are bounded by `max_upload_bytes` in the handler, not by axum's 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .route("/blobs/{*key}", get(download_blob).put(upload_blob))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn playground() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").title("i-mind API").finish())
}

/// `GET /graphql`: subscriptions when it is a WebSocket upgrade, else the playground.
async fn graphql_get(State(state): State<HttpState>, request: Request<Body>) -> Response {
    let (mut parts, _) = request.into_parts();
    let upgrade =
        parts.headers.get(header::UPGRADE).is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !upgrade {
        return playground().await.into_response();
    }
    // The first subprotocol offered that we speak; none named means the legacy protocol.
    let offered = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|value| value.to_str().ok());
    let protocol = match offered {
        None => async_graphql::http::WebSocketProtocols::SubscriptionsTransportWS,
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

/// Largest non-multipart GraphQL request body (queries and variables, no files).
const MAX_JSON_BODY: usize = 4 << 20;

type RequestRejection = (StatusCode, String, &'static str);

/// A multipart request's file part, still arriving: what the resolver reads, the task that
/// feeds it, and the local copy's path (removed once the request is answered).
type LiveUpload = (LiveFile, FilePump<BodyDataStream>, tempfile::TempPath);

/// Reads a GraphQL request: JSON, or the multipart request spec, whose file part is left to
/// arrive while the request runs (never held in memory; at most `max_upload_bytes`).
async fn read_request(
    state: &HttpState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(async_graphql::Request, Option<LiveUpload>), RequestRejection> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(content_type) = content_type.as_deref().filter(|t| t.starts_with("multipart/")) {
        let max = state.app.settings.max_upload_bytes;
        let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let rejection = |error: MultipartError| match error {
            MultipartError::TooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, format!("videos may have at most {max} bytes"), code::PAYLOAD_TOO_LARGE)
            }
            other => (StatusCode::BAD_REQUEST, format!("unreadable GraphQL request: {other}"), code::BAD_USER_INPUT),
        };
        let temp = videos::temp_file(&state.app)
            .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "no room for the upload".to_owned(), code::INTERNAL))?;
        let reader = multipart::Reader::new(body.into_data_stream(), content_type).map_err(rejection)?;
        let parsed = reader.read(length, max, temp.to_path_buf()).await.map_err(rejection)?;
        return Ok((parsed.request, parsed.file.map(|(file, pump)| (file, pump, temp))));
    }
    let bytes = axum::body::to_bytes(body, MAX_JSON_BODY).await.map_err(|_| {
        let message = format!("a GraphQL request without files may have at most {MAX_JSON_BODY} bytes");
        (StatusCode::PAYLOAD_TOO_LARGE, message, code::PAYLOAD_TOO_LARGE)
    })?;
    async_graphql::http::receive_body(content_type, bytes.as_ref(), MultipartOptions::default())
        .await
        .map(|request| (request, None))
        .map_err(|error| match error {
            ParseRequestError::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "the request is too large".to_owned(), code::PAYLOAD_TOO_LARGE)
            }
            other => (StatusCode::BAD_REQUEST, format!("unreadable GraphQL request: {other}"), code::BAD_USER_INPUT),
        })
}

/// Runs the request while its file part (if any) streams in. The file stops being read as soon
/// as the request is answered (e.g. refused before reading it).
async fn execute(
    schema: &AppSchema,
    request: async_graphql::Request,
    live: Option<LiveUpload>,
) -> async_graphql::Response {
    let Some((file, pump, temp)) = live else { return schema.execute(request).await };
    // Its own task: receiving and parsing run beside the resolver's hashing and writing.
    let pump = tokio::spawn(pump.run());
    let response = schema.execute(request.data(file)).await;
    pump.abort();
    drop(temp);
    response
}

async fn graphql_handler(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Response {
    state.app.metrics.graphql_requests.inc();
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (request, live) = match read_request(&state, &headers, body).await {
        Ok(read) => read,
        Err((status, message, code)) => {
            let mut error = async_graphql::ServerError::new(message, None);
            error.extensions.get_or_insert_with(ErrorExtensionValues::default).set("code", code);
            let mut http = GraphQLResponse::from(async_graphql::Response::from_errors(vec![error])).into_response();
            *http.status_mut() = status;
            return http;
        }
    };
    let caller = caller(&state.app, &headers);
    let loader = graphql::request_loader(&state.app);
    let request = request.data(RequestContext { caller, request_id: request_id.clone() }).data(loader);
    let mut response = execute(&state.schema, request, live).await;
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
        match extensions.get("code") {
            Some(Value::String(found)) if found == code::INTERNAL => {
                error.message = format!("{INTERNAL_MESSAGE} (request id {request_id})");
                extensions.set("requestId", request_id.clone());
            }
            Some(_) => {}
            // Parse and validation errors (depth, complexity, unknown fields) come from
            // async-graphql without a code; their messages already say what is wrong.
            None => extensions.set("code", code::BAD_USER_INPUT),
        }
    }
    GraphQLResponse::from(response).into_response()
}

#[derive(serde::Deserialize)]
struct SignedQuery {
    expires: i64,
    signature: String,
    size: Option<u64>,
}

/// Direct upload to the local store, on a URL `createVideoUpload` signed.
async fn upload_blob(
    State(state): State<HttpState>,
    Path(key): Path<String>,
    Query(query): Query<SignedQuery>,
    body: Body,
) -> Response {
    use futures_util::TryStreamExt;
    let Some(store) = &state.app.local_blobs else { return StatusCode::NOT_FOUND.into_response() };
    let Some(size) = query.size else {
        return (StatusCode::FORBIDDEN, "invalid or expired upload URL").into_response();
    };
    if !store.signer().verify("PUT", &key, Some(size), query.expires, &query.signature) {
        return (StatusCode::FORBIDDEN, "invalid or expired upload URL").into_response();
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    match store.receive(&key, size, reader).await {
        Ok(Ok(_)) => StatusCode::OK.into_response(),
        Ok(Err(reason)) => (StatusCode::BAD_REQUEST, reason).into_response(),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "storing a direct upload");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Download from the local store, on a URL `Session.videoUrl` signed (supports Range).
async fn download_blob(
    State(state): State<HttpState>,
    Path(key): Path<String>,
    Query(query): Query<SignedQuery>,
    request: Request<Body>,
) -> Response {
    let Some(store) = &state.app.local_blobs else { return StatusCode::NOT_FOUND.into_response() };
    if !store.signer().verify("GET", &key, None, query.expires, &query.signature) {
        return (StatusCode::FORBIDDEN, "invalid or expired video URL").into_response();
    }
    let Ok(path) = store.path(&key) else { return StatusCode::NOT_FOUND.into_response() };
    match ServeFile::new(path).try_call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => {
            tracing::error!(%error, "serving a video");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Reads the bearer token, if any. Failures are logged but only surface when a resolver needs
/// a viewer.
fn caller(state: &AppState, headers: &HeaderMap) -> Caller {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Caller::Anonymous };
    let Some(token) = value.to_str().ok().and_then(jwt::bearer) else {
        return Caller::Rejected("malformed Authorization header".into());
    };
    match state.jwt.verify(token) {
        Ok(viewer) => Caller::Authenticated(viewer),
        Err(reason) => {
            tracing::info!(%reason, "rejected access token");
            Caller::Rejected(reason)
        }
    }
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.app.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.app.metrics.render())
}
