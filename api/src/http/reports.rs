//! Report files over plain HTTP: `GET /sessions/{id}/intervals.csv` (one row per interval of
//! every person in the session, for spreadsheets, R and pandas), `GET
//! /sessions/{id}/timeline.svg` and `.png` (the session's timeline picture) and `GET
//! /children/{id}/trend.svg` (a child's expressions per session), and the coding as
//! ELAN-compatible TSV (`GET /sessions/{id}/coding.tsv`, `GET /children/{id}/coding.tsv`). The caller proves itself
//! with a bearer token or API key, or for a session's files with the short-lived link
//! (`Session.intervalsCsvUrl`, `Session.timelineUrl`) signed for it; either way its rights are checked now, exactly as for `session(id)`, and the read is
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
    coding_export,
    error::ApiError,
    graphql::{actor, child_id_of, session_id_of},
    rate_limits::{Metered, Refusal},
    report_files::{self, LinkedViewer, SessionFile},
    state::AppState,
};

#[derive(Deserialize, Default)]
pub(super) struct Link {
    viewer: Option<String>,
    expires: Option<i64>,
    signature: Option<String>,
}

/// `GET /sessions/{id}/{file}`: `intervals.csv`, `timeline.svg` or `timeline.png`.
pub(super) async fn session_file_route(
    State(state): State<HttpState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path((id, file)): Path<(String, String)>,
    Query(link): Query<Link>,
    headers: HeaderMap,
) -> Response {
    let Some(file) = SessionFile::named(&file) else { return refused(ApiError::NotFound) };
    session_file(&state.app, client, &id, &link, &headers, file).await
}

/// One of a session's files, for a caller whose rights are checked now.
async fn session_file(
    app: &AppState,
    client: std::net::SocketAddr,
    id: &str,
    link: &Link,
    headers: &HeaderMap,
    file: SessionFile,
) -> Response {
    if let Err(refusal) = app.rate_limits.address_request(client.ip()) {
        return too_many_requests(&refusal);
    }
    let Ok(session) = session_id_of(id) else { return refused(ApiError::NotFound) };
    let viewer = match viewer(app, Some((session, file)), link, headers).await {
        Ok(viewer) => viewer,
        Err(error) => return refused(error),
    };
    let child = match admit(app, &viewer, Target::Session(session)).await {
        Ok(child) => child,
        Err(response) => return response,
    };
    audit_read(app, &viewer, client, headers, child, Some(session));
    let made = match file {
        SessionFile::IntervalsCsv => report_files::intervals_csv(&app.db, session).await,
        SessionFile::CodingTsv => {
            coding_export::session_tsv(&app.db, session, access::allows(&viewer, ChildAction::ReadNotes)).await
        }
        SessionFile::TimelineSvg | SessionFile::TimelinePng => report_files::timeline(app, session, file).await,
    };
    let disposition = match file {
        SessionFile::IntervalsCsv => format!("attachment; filename=\"session-{session}-intervals.csv\""),
        SessionFile::CodingTsv => format!("attachment; filename=\"session-{session}-coding.tsv\""),
        _ => format!("inline; filename=\"session-{session}-{}\"", file.name()),
    };
    // Like a GraphQL list, each row (or interval drawn) costs one.
    served_costed(app, &viewer, made, file.content_type(), &disposition)
}

/// `GET /children/{id}/coding.tsv`: the coding of every session of the child (`coding_export`).
pub(super) async fn child_coding_tsv(
    State(state): State<HttpState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let app = &state.app;
    let (child, viewer, reviewed_only) = match child_reader(app, client, &id, &headers).await {
        Ok(reader) => reader,
        Err(response) => return response,
    };
    let with_notes = access::allows(&viewer, ChildAction::ReadNotes);
    let made = coding_export::child_tsv(&app.db, child, with_notes, reviewed_only).await;
    let disposition = format!("attachment; filename=\"child-{child}-coding.tsv\"");
    served_costed(app, &viewer, made, SessionFile::CodingTsv.content_type(), &disposition)
}

/// `GET /children/{id}/trend.svg`: the child's observed expressions per analysed session.
pub(super) async fn trend_svg(
    State(state): State<HttpState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let app = &state.app;
    let (child, viewer, reviewed_only) = match child_reader(app, client, &id, &headers).await {
        Ok(reader) => reader,
        Err(response) => return response,
    };
    let made = report_files::trend(app, child, reviewed_only).await;
    served_costed(app, &viewer, made, "image/svg+xml", &format!("inline; filename=\"child-{child}-trend.svg\""))
}

/// What every file of a child checks first: the address's request bucket, the caller, their
/// right to read the child (audited), and whether they see reviewed sessions only.
async fn child_reader(
    app: &AppState,
    client: std::net::SocketAddr,
    id: &str,
    headers: &HeaderMap,
) -> Result<(Uuid, Viewer, bool), Response> {
    if let Err(refusal) = app.rate_limits.address_request(client.ip()) {
        return Err(too_many_requests(&refusal));
    }
    let child = child_id_of(id).map_err(|_| refused(ApiError::NotFound))?;
    let viewer = viewer(app, None, &Link::default(), headers).await.map_err(refused)?;
    admit(app, &viewer, Target::Child(child)).await?;
    audit_read(app, &viewer, client, headers, child, None);
    let reviewed_only = access::sees_reviewed_only(&app.db, &viewer).await.map_err(refused)?;
    Ok((child, viewer, reviewed_only))
}

/// A made file, served once its rows (or sessions) are paid for like a GraphQL list's.
fn served_costed(
    app: &AppState,
    viewer: &Viewer,
    made: Result<(Vec<u8>, usize), ApiError>,
    content_type: &'static str,
    disposition: &str,
) -> Response {
    match made {
        Ok((bytes, rows)) => match app.rate_limits.cost(Metered::of(viewer), rows) {
            Ok(_) => served(bytes, content_type, disposition),
            Err(refusal) => too_many_requests(&refusal),
        },
        Err(error) => refused(error),
    }
}

/// The checks every report file passes once its caller is known: keys held to trusted
/// documents read no files, the caller's request bucket, and their right to read `target`.
/// Returns the child it belongs to.
async fn admit(app: &AppState, viewer: &Viewer, target: Target) -> Result<Uuid, Response> {
    if viewer.key().is_some_and(|key| key.trusted_documents_only) {
        return Err(refused(ApiError::OperationNotTrusted));
    }
    if let Err(refusal) = app.rate_limits.request(Metered::of(viewer)) {
        return Err(too_many_requests(&refusal));
    }
    access::authorize(&app.db, viewer, target, ChildAction::Read).await.map_err(refused)
}

fn audit_read(
    app: &AppState,
    viewer: &Viewer,
    client: std::net::SocketAddr,
    headers: &HeaderMap,
    child: Uuid,
    session: Option<Uuid>,
) {
    let request_id = headers.get(super::REQUEST_ID).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let origin = Origin { operation_name: None, request_id, client_address: Some(client.ip()) };
    let mut entry = AuditEntry::new(AuditAction::ChildRead, actor(viewer), origin).child(child);
    if let Some(session) = session {
        entry = entry.session(session);
    }
    app.reads.append(entry);
}

/// A file's answer: private, never cached by others, never sniffed, and (an SVG opened as a page)
/// allowed to run nothing.
fn served(bytes: Vec<u8>, content_type: &'static str, disposition: &str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(disposition).expect("ASCII"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    response
}

/// Who asks: the signed link's viewer (for a session's file), else the `Authorization`
/// header's.
async fn viewer(
    app: &AppState,
    file: Option<(Uuid, SessionFile)>,
    link: &Link,
    headers: &HeaderMap,
) -> Result<Viewer, ApiError> {
    if let (Some(viewer), Some(expires), Some(signature)) = (&link.viewer, link.expires, &link.signature) {
        let Some((session, file)) = file else { return Err(ApiError::Unauthenticated) };
        let linked = LinkedViewer::parse(viewer).ok_or(ApiError::Unauthenticated)?;
        // The SVG's link also fetches the PNG: the same picture.
        let signed_for = if file == SessionFile::TimelinePng { SessionFile::TimelineSvg } else { file };
        if !app.links.verify("GET", &report_files::link_subject(session, signed_for, &linked), None, expires, signature)
        {
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
