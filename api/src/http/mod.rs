//! HTTP routes: `/graphql` ([`graphql`]: requests, uploads as they arrive, the WebSocket
//! upgrade), the GraphiQL playground at `/` ([`playground`], served from the gateway itself), the local store's signed URLs ([`blobs`]), health,
//! report files ([`reports`]: a session's intervals as CSV), readiness and metrics. Request ids are set here; errors get their codes and masking in the
//! schema (`graphql::errors`), the same for every transport.

mod blobs;
mod graphql;
mod playground;
mod reports;
mod serve;

pub use serve::{ServerLimits, serve};

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderName, Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use subtle::ConstantTimeEq;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    auth::jwt::bearer,
    graphql::{AppSchema, fanout::SharedSubscriptions},
    state::AppState,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
struct HttpState {
    app: AppState,
    schema: AppSchema,
    subscriptions: SharedSubscriptions,
}

/// Every route; `/metrics` among them unless it is served on an address of its own.
pub fn router(app: AppState, schema: AppSchema, with_metrics: bool) -> Router {
    let subscriptions = SharedSubscriptions::new(schema.clone());
    let state = HttpState { app, schema, subscriptions };
    let mut router = Router::new()
        .route("/", get(playground::page))
        .route("/playground/{name}", get(playground::asset))
        // Browsers ask for it on every page; an empty answer keeps their consoles clean.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/graphql", get(graphql::get).post(graphql::post))
        // Uploads are bounded by `max_upload_bytes` in the handler, not by axum's 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .route("/blobs/{*key}", get(blobs::download).put(blobs::upload))
        .route("/sessions/{id}/{file}", get(reports::session_file_route))
        .route("/children/{id}/trend.svg", get(reports::trend_svg))
        .route("/children/{id}/coding.tsv", get(reports::child_coding_tsv))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready));
    if with_metrics {
        router = router.route("/metrics", get(metrics));
    }
    router
        .with_state(state)
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            // `actor` (`user:…` or `apikey:…`) is filled in once the caller is checked.
            tracing::info_span!(
                "request",
                method = %request.method(),
                path = %request.uri().path(),
                request_id,
                actor = tracing::field::Empty
            )
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(without_client_request_id))
}

/// Request ids are the server's own: a client's `x-request-id` would put its words into the
/// logs and the audit log. (Clients correlate through the answer's header.)
async fn without_client_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    request.headers_mut().remove(REQUEST_ID);
    request
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.app.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// `/metrics` alone, for its own address.
pub fn metrics_router(app: AppState) -> Router {
    Router::new().route("/metrics", get(metrics_only)).with_state(app)
}

async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    metrics_only(State(state.app), headers).await
}

/// Prometheus text, for the bearer of `metrics_token` when one is set.
async fn metrics_only(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let expected = &app.settings.metrics_token.0;
    if !expected.is_empty() {
        let presented = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(bearer);
        let matches = presented.is_some_and(|token| token.as_bytes().ct_eq(expected.as_bytes()).into());
        if !matches {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "metrics need a token")
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render())
        .into_response()
}
