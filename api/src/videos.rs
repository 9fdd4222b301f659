//! Accepting a session's video: hash it, probe it with the inference engine, have it stored
//! under a fresh key, then point the session at it in one update and remove the old video. A
//! file that is not a decodable video is refused (`UNSUPPORTED_MEDIA`) and leaves nothing
//! behind. Two ways in: a GraphQL upload while it arrives (`accept_live`), or a finished
//! direct upload already in the store (`accept_stored`).

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use entity::{enums::SessionStatus, session};
use imind_inference::video::{probe, probe_url};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
use sha2::{Digest, Sha256};

use crate::{
    app::AppState,
    error::{ApiError, ApiResult},
    multipart::{LiveFile, MultipartError},
};

fn hash_file(mut file: std::fs::File) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((hasher.finalize().iter().map(|b| format!("{b:02x}")).collect(), size))
}

/// A temporary file under the data directory, removed when dropped.
pub fn temp_file(state: &AppState) -> ApiResult<tempfile::TempPath> {
    let file = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(state.settings.data_dir.join("tmp"))
        .map_err(|error| anyhow::Error::new(error).context("creating a temporary file"))?;
    Ok(file.into_temp_path())
}

/// Checks and records a finished direct upload stored under `key`.
pub async fn accept_stored(state: &AppState, session: session::Model, key: &str) -> ApiResult<session::Model> {
    // An object that isn't on local disk is fetched to a temporary copy to probe and hash.
    let (local, _fetched): (PathBuf, Option<tempfile::TempPath>) = match state.blobs.local_path(key) {
        Some(path) => (path, None),
        None => {
            let temp = temp_file(state)?;
            state.blobs.download(key, &temp).await?;
            (temp.to_path_buf(), Some(temp))
        }
    };
    let probed = {
        let local = local.clone();
        tokio::task::spawn_blocking(move || probe(&local)).await.map_err(anyhow::Error::new)?
    };
    let info = match probed {
        Ok(info) => info,
        Err(reason) => {
            remove_quietly(state, key).await;
            return Err(ApiError::UnsupportedMedia(format!("not a video that can be analysed: {reason}")));
        }
    };
    let opened =
        std::fs::File::open(&local).map_err(|error| anyhow::Error::new(error).context("reopening the upload"))?;
    let hashed = tokio::task::spawn_blocking(move || hash_file(opened)).await.map_err(anyhow::Error::new)?;
    let (sha256, size) = match hashed {
        Ok(hashed) => hashed,
        Err(error) => {
            remove_quietly(state, key).await;
            return Err(ApiError::UnsupportedMedia(format!("the video could not be read back: {error}")));
        }
    };
    record(state, session, key, sha256, size, &info).await
}

/// Points the session at its new video in one update, then removes the old one.
async fn record(
    state: &AppState,
    session: session::Model,
    key: &str,
    sha256: String,
    size: u64,
    info: &imind_inference::video::VideoInfo,
) -> ApiResult<session::Model> {
    let previous = session.video_blob_key.clone();
    let mut model = session.into_active_model();
    model.status = Set(SessionStatus::Ready);
    model.video_blob_key = Set(Some(key.to_owned()));
    model.video_size_bytes = Set(Some(size as i64));
    model.video_sha256 = Set(Some(sha256));
    model.video_duration_ms = Set(Some(info.duration_ms));
    model.video_fps = Set(Some(info.fps));
    model.video_width = Set(Some(info.width));
    model.video_height = Set(Some(info.height));
    model.video_upload_key = Set(None);
    model.video_upload_size = Set(None);
    model.video_upload_expires_at = Set(None);
    model.updated_at = Set(Utc::now());
    let updated = match model.update(&state.db).await {
        Ok(updated) => updated,
        Err(error) => {
            remove_quietly(state, key).await;
            return Err(error.into());
        }
    };
    if let Some(previous) = previous.filter(|previous| previous != key) {
        remove_quietly(state, &previous).await;
    }
    Ok(updated)
}

/// Accepts a video while it arrives (see `multipart`). Each chunk is hashed and either sent
/// straight on to the store — when the store takes streams and the request fixed the file's
/// length — or written to a local copy that is stored afterwards. Then it is probed: the
/// stored object through a short-lived URL, or the local copy.
pub async fn accept_live(
    state: &AppState,
    session: session::Model,
    live: &LiveFile,
    key: &str,
) -> ApiResult<session::Model> {
    use std::io::Write;
    let mut chunks = live
        .chunks
        .lock()
        .expect("not poisoned")
        .take()
        .ok_or_else(|| ApiError::bad_input("the upload can be read only once"))?;
    let mut streaming = live.expected_len.filter(|len| *len > 0).and_then(|len| state.blobs.put_stream(key, len));
    let streamed = streaming.is_some();
    // Without a stream to the store, the bytes go to a local copy first.
    let mut copy = match streaming {
        Some(_) => None,
        None => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&live.path)
                .map_err(|error| anyhow::Error::new(error).context("opening the upload's local copy"))?,
        ),
    };
    // Hashing runs on a thread of its own, beside writing and sending.
    let (to_hasher, pieces) = std::sync::mpsc::sync_channel::<bytes::Bytes>(8);
    let hashing = std::thread::spawn(move || {
        let mut hasher = Sha256::new();
        for piece in pieces {
            hasher.update(&piece);
        }
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()
    });
    let mut size = 0u64;
    let received: ApiResult<()> = loop {
        match chunks.recv().await {
            Some(Ok(chunk)) if chunk.is_empty() => break Ok(()),
            Some(Ok(chunk)) => {
                if to_hasher.send(chunk.clone()).is_err() {
                    break Err(anyhow::anyhow!("the hashing thread stopped").into());
                }
                size += chunk.len() as u64;
                if let Some(copy) = &mut copy
                    && let Err(error) = copy.write_all(&chunk)
                {
                    break Err(anyhow::Error::new(error).context("writing the upload's local copy").into());
                }
                if let Some(put) = &mut streaming
                    && !put.send(chunk).await
                {
                    break Err(anyhow::anyhow!("the blob store refused the upload mid-way").into());
                }
            }
            Some(Err(MultipartError::TooLarge(max))) => {
                break Err(ApiError::PayloadTooLarge(format!("videos may have at most {max} bytes")));
            }
            Some(Err(error)) => break Err(ApiError::bad_input(error.to_string())),
            None => break Err(ApiError::bad_input("the upload was interrupted")),
        }
    };
    drop(copy);
    drop(to_hasher);
    let received = received.and_then(|()| match live.expected_len {
        Some(expected) if streaming.is_some() && size != expected => Err(ApiError::bad_input(format!(
            "the file part had {size} bytes where the request's Content-Length implied {expected}; \
             end the body with the closing boundary and a line break, and retry"
        ))),
        _ => Ok(()),
    });
    if let Err(error) = received {
        if let Some(put) = streaming {
            put.abort().await;
        }
        return Err(error);
    }
    let probed = match streaming {
        Some(put) => {
            put.finish().await.context("storing the video")?;
            let url = state.blobs.presign_get(key, std::time::Duration::from_secs(300)).await?.url;
            tokio::task::spawn_blocking(move || probe_url(&url)).await.map_err(anyhow::Error::new)?
        }
        None => {
            let path = live.path.clone();
            tokio::task::spawn_blocking(move || probe(&path)).await.map_err(anyhow::Error::new)?
        }
    };
    let info = match probed {
        Ok(info) => info,
        Err(reason) => {
            if streamed {
                remove_quietly(state, key).await;
            }
            return Err(ApiError::UnsupportedMedia(format!("not a video that can be analysed: {reason}")));
        }
    };
    if !streamed {
        state.blobs.put_file(key, &live.path).await?;
    }
    let sha256 = tokio::task::spawn_blocking(move || hashing.join())
        .await
        .map_err(anyhow::Error::new)?
        .map_err(|_| anyhow::anyhow!("the hashing thread panicked"))?;
    record(state, session, key, sha256, size, &info).await
}

/// Deletes a blob, logging (not failing) when the store refuses: the database no longer points
/// at it, so at worst it is an orphan to clean up.
pub async fn remove_quietly(state: &AppState, key: &str) {
    if let Err(error) = state.blobs.delete(key).await {
        tracing::warn!(key, error = format!("{error:#}"), "could not delete a blob");
    }
}
