//! Report files over plain HTTP, for spreadsheets, R and pandas: `GET /sessions/{id}/intervals.csv`
//! (one row per interval of every person in the session). The caller proves itself with a
//! bearer token or API key, or with the short-lived link `Session.intervalsCsvUrl` signed for
//! it; either way its rights are checked now, exactly as for `session(id)`, and the read is
//! audited. An API key held to trusted documents reads no files (they are not documents its
//! organisation registered). A file's rows count against the caller's query cost.

use axum::{
    extract::{ConnectInfo, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use uuid::Uuid;

use super::HttpState;
use crate::{
    access::{self, ChildAction, Target},
    audit::{AuditAction, AuditEntry, Origin},
    auth::{Caller, Viewer},
    error::ApiError,
    graphql::{actor, session_id_of},
    rate_limits::{Metered, Refusal},
    report_files::{self, LinkedViewer},
    state::AppState,
};

#[derive(Deserialize)]
pub(super) struct Link {
    viewer: Option<String>,
    expires: Option<i64>,
    signature: Option<String>,
}

/// `GET /sessions/{id}/intervals.csv`.
pub(super) async fn intervals_csv(
    State(state): State<HttpState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    Query(link): Query<Link>,
    headers: HeaderMap,
) -> Response {
    let app = &state.app;
    if let Err(refusal) = app.rate_limits.address_request(client.ip()) {
        return too_many_requests(&refusal);
    }
    let Ok(session) = session_id_of(&id) else { return refused(ApiError::NotFound) };
    let viewer = match viewer(app, session, &link, &headers).await {
        Ok(viewer) => viewer,
        Err(error) => return refused(error),
    };
    if viewer.key().is_some_and(|key| key.trusted_documents_only) {
        return refused(ApiError::OperationNotTrusted);
    }
    if let Err(refusal) = app.rate_limits.request(Metered::of(&viewer)) {
        return too_many_requests(&refusal);
    }
    let child = match access::authorize(&app.db, &viewer, Target::Session(session), ChildAction::Read).await {
        Ok(child) => child,
        Err(error) => return refused(error),
    };
    let request_id = headers.get(super::REQUEST_ID).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let origin = Origin { operation_name: None, request_id, client_address: Some(client.ip()) };
    app.reads.append(AuditEntry::new(AuditAction::ChildRead, actor(&viewer), origin).child(child).session(session));
    match report_files::intervals_csv(&app.db, session).await {
        Ok((csv, rows)) => {
            // Like a GraphQL list, each row costs one.
            if let Err(refusal) = app.rate_limits.cost(Metered::of(&viewer), rows) {
                return too_many_requests(&refusal);
            }
            let disposition = format!("attachment; filename=\"session-{session}-intervals.csv\"");
            let mut response = csv.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ASCII"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            response
        }
        Err(error) => refused(error),
    }
}

/// Who asks: the signed link's viewer, else the `Authorization` header's.
async fn viewer(app: &AppState, session: Uuid, link: &Link, headers: &HeaderMap) -> Result<Viewer, ApiError> {
    if let (Some(viewer), Some(expires), Some(signature)) = (&link.viewer, link.expires, &link.signature) {
        let linked = LinkedViewer::parse(viewer).ok_or(ApiError::Unauthenticated)?;
        if !app.links.verify("GET", &report_files::link_subject(session, &linked), None, expires, signature) {
            return Err(ApiError::Unauthenticated);
        }
        return linked.viewer(app).await?.ok_or(ApiError::Unauthenticated);
    }
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.to_str().unwrap_or_default());
    let credential = match Caller::from_authorization(authorization, &app.jwt) {
        Caller::Authenticated(credential) => app.sign_ins.stands(&credential).await?.then_some(credential),
        Caller::Key(secret) => app.sign_ins.keys().resolve(&secret).await?,
        Caller::Anonymous | Caller::Malformed | Caller::Rejected => None,
    };
    credential.map(|credential| credential.viewer).ok_or(ApiError::Unauthenticated)
}

/// 429 with `Retry-After`, as plain text like the other refusals.
fn too_many_requests(refusal: &Refusal) -> Response {
    let mut response = refused(ApiError::TooManyRequests(refusal.retry_after));
    response.headers_mut().insert(header::RETRY_AFTER, refusal.retry_after.as_secs().into());
    response
}

/// A refusal as plain text, with the status its code means; internal errors logged, not told.
fn refused(error: ApiError) -> Response {
    let status = match error {
        ApiError::Unauthenticated | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden | ApiError::OperationNotTrusted => StatusCode::FORBIDDEN,
        ApiError::NotFound => StatusCode::NOT_FOUND,
        ApiError::BadUserInput(_) => StatusCode::BAD_REQUEST,
        ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        ApiError::Internal(ref cause) => {
            tracing::error!(error = format!("{cause:#}"), "serving a report file");
            return (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL: internal error").into_response();
        }
        _ => StatusCode::BAD_REQUEST,
    };
    (status, format!("{}: {error}", error.code())).into_response()
}
