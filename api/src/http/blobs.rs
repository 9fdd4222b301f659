//! The local store's signed URLs: direct uploads (`createVideoUpload`) and video downloads
//! (`Session.videoUrl`), each checked against the signature the gateway made.

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use entity::session;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tower_http::services::ServeFile;

use super::HttpState;
use crate::blob::BlobStore;

#[derive(serde::Deserialize)]
pub(super) struct SignedQuery {
    expires: i64,
    signature: String,
    size: Option<u64>,
}

/// Direct upload to the local store, on a URL `createVideoUpload` signed.
pub(super) async fn upload(
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
    // A ticket is good for one upload, while its session still waits for it: not after
    // completion, replacement by a newer ticket, or erasure of the session.
    let pending = session::Entity::find().filter(session::Column::VideoUploadKey.eq(&key)).one(&state.app.db).await;
    match pending {
        Ok(Some(_)) => {}
        Ok(None) => return (StatusCode::GONE, "this upload URL has been used up or withdrawn").into_response(),
        Err(error) => {
            tracing::error!(%error, "looking up a direct upload");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    }
    if matches!(store.size(&key).await, Ok(Some(_))) {
        return (StatusCode::CONFLICT, "this upload URL has been used already").into_response();
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let idle = std::time::Duration::from_secs(state.app.settings.body_timeout_secs.max(1));
    match store.receive(&key, size, idle, reader).await {
        Ok(Ok(_)) => StatusCode::OK.into_response(),
        Ok(Err(reason)) => (StatusCode::BAD_REQUEST, reason).into_response(),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "storing a direct upload");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Download from the local store, on a URL `Session.videoUrl` signed (supports Range).
pub(super) async fn download(
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
        Ok(response) => {
            // A download of opaque bytes: never rendered, never sniffed into something runnable.
            let mut response = response.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "serving a video");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
