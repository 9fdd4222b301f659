//! HTTP routes: `/graphql`, the GraphiQL playground at `/`, health, readiness and metrics.

use std::time::Duration;

use async_graphql::{ErrorExtensionValues, Value, http::GraphiQLSource};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderName, Request, StatusCode, header},
    response::{Html, IntoResponse},
    routing::get,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    app::AppState,
    auth::{Caller, jwt},
    error::{INTERNAL_MESSAGE, code},
    graphql::{self, AppSchema, RequestContext},
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
struct HttpState {
    app: AppState,
    schema: AppSchema,
}

pub fn router(app: AppState, schema: AppSchema) -> Router {
    let state = HttpState { app, schema };
    Router::new()
        .route("/", get(playground))
        .route("/graphql", get(playground).post(graphql_handler))
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
    Html(GraphiQLSource::build().endpoint("/graphql").title("i-mind API").finish())
}

async fn graphql_handler(
    State(state): State<HttpState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    state.app.metrics.graphql_requests.inc();
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let caller = caller(&state.app, &headers);
    let loader = graphql::request_loader(&state.app);
    let request = request.into_inner().data(RequestContext { caller, request_id: request_id.clone() }).data(loader);
    let mut response = state.schema.execute(request).await;
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
    response.into()
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
