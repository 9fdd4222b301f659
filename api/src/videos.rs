//! Accepting a session's video: hash it, probe it with the inference engine, have it stored
//! under a fresh key, then point the session at it in one update and remove the old video. A
//! file that is not a decodable video is refused (`UNSUPPORTED_MEDIA`) and leaves nothing
//! behind. Two ways in: a GraphQL upload while it arrives (`accept_live`), or a direct upload
//! to a signed URL (`start_direct_upload`, then `complete_direct_upload`).

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use entity::{
    enums::{ConsentKind, SessionStatus},
    session,
};
use imind_inference::{Decoding, MediaLimits, MediaSource, VideoError, VideoInfo};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DatabaseTransaction, IntoActiveModel, Set};
use sha2::Digest;

use crate::{
    audit::{self, AuditEntry},
    blob::{self, BlobStore, LocalCopy, SignedRequest},
    consents, digest,
    error::{ApiError, ApiResult},
    multipart::{FileChunk, LiveFile, MultipartError},
};

/// What accepting a video needs: where sessions are recorded, where videos are stored, and
/// where temporary copies go.
pub struct Videos<'a> {
    pub db: &'a DatabaseConnection,
    pub blobs: &'a dyn BlobStore,
    pub temp_dir: PathBuf,
    /// What a video may demand of the decoder (bigger ones are refused at upload).
    pub limits: MediaLimits,
    /// Where uploads are probed.
    pub decoding: Decoding,
    /// The audit entry of the change, written with it.
    pub audit: Option<AuditEntry>,
}

fn hash_file(mut file: std::fs::File) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut hasher = digest::Hasher::new();
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
    Ok((digest::hex(hasher), size))
}

impl Videos<'_> {
    /// The same, writing `entry` in the audit log with the change.
    pub fn audited(self, entry: AuditEntry) -> Self {
        Self { audit: Some(entry), ..self }
    }

    /// Runs a probe off the async executor (it blocks on FFmpeg or on the child doing it).
    async fn probe(
        &self,
        probe: impl FnOnce(&Decoding, &MediaLimits) -> Result<VideoInfo, VideoError> + Send + 'static,
    ) -> ApiResult<Result<VideoInfo, VideoError>> {
        let (decoding, limits) = (self.decoding.clone(), self.limits);
        Ok(tokio::task::spawn_blocking(move || probe(&decoding, &limits)).await.map_err(anyhow::Error::new)?)
    }

    /// Appends the audit entry of the change (if any) in its transaction.
    async fn append_audit(&self, txn: &DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
        match self.audit.clone() {
            Some(entry) => audit::append(txn, entry).await,
            None => Ok(()),
        }
    }

    /// A temporary file for an upload's local copy, removed when dropped.
    pub fn temp_file(&self) -> ApiResult<tempfile::TempPath> {
        blob::temp_file(&self.temp_dir, "upload-")
            .map_err(|error| anyhow::Error::new(error).context("creating a temporary file").into())
    }

    /// Checks and records a finished direct upload stored under `key`.
    async fn accept_stored(&self, session: session::Model, key: &str) -> ApiResult<session::Model> {
        // An object that isn't on local disk is fetched to a temporary copy to probe and hash.
        let copy = LocalCopy::of(self.blobs, key, &self.temp_dir).await.map_err(anyhow::Error::new)?;
        let local = copy.path().to_owned();
        let probed = {
            let local = local.clone();
            self.probe(move |decoding, limits| decoding.probe(MediaSource::File(&local), limits)).await?
        };
        let info = match probed {
            Ok(info) => info,
            Err(reason) => {
                remove_quietly(self.blobs, key).await;
                return Err(ApiError::UnsupportedMedia(format!("not a video that can be analysed: {reason}")));
            }
        };
        let opened =
            std::fs::File::open(&local).map_err(|error| anyhow::Error::new(error).context("reopening the upload"))?;
        let hashed = tokio::task::spawn_blocking(move || hash_file(opened)).await.map_err(anyhow::Error::new)?;
        let (sha256, size) = match hashed {
            Ok(hashed) => hashed,
            Err(error) => {
                remove_quietly(self.blobs, key).await;
                return Err(ApiError::UnsupportedMedia(format!("the video could not be read back: {error}")));
            }
        };
        self.record(session, key, sha256, size, &info).await
    }

    /// Points the session at its new video in one update, then removes the old one.
    async fn record(
        &self,
        session: session::Model,
        key: &str,
        sha256: String,
        size: u64,
        info: &VideoInfo,
    ) -> ApiResult<session::Model> {
        let previous = session.video_blob_key.clone();
        let mut model = session.clone().into_active_model();
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
        let child_id = session.child_id;
        let recorded = async {
            let txn = crate::db::begin_write(self.db).await?;
            // Consent may have been withdrawn while the video arrived (or is being now).
            crate::db::lock_child(&txn, child_id).await?;
            consents::require(&txn, child_id, ConsentKind::Recording).await?;
            let updated = model.update(&txn).await?;
            self.append_audit(&txn).await?;
            txn.commit().await?;
            ApiResult::Ok(updated)
        };
        let updated = match recorded.await {
            Ok(updated) => updated,
            Err(error) => {
                remove_quietly(self.blobs, key).await;
                return Err(error);
            }
        };
        if let Some(previous) = previous.filter(|previous| previous != key) {
            remove_quietly(self.blobs, &previous).await;
        }
        Ok(updated)
    }

    /// Accepts a video while it arrives (see `multipart`). Each chunk is hashed and either sent
    /// straight on to the store — when the store takes streams and the request fixed the
    /// file's length — or written to a local copy that is stored afterwards. Then it is probed:
    /// the stored object through a short-lived URL, or the local copy.
    pub async fn accept_live(&self, session: session::Model, live: &LiveFile, key: &str) -> ApiResult<session::Model> {
        use std::io::Write;
        let mut chunks = live
            .chunks
            .lock()
            .expect("not poisoned")
            .take()
            .ok_or_else(|| ApiError::bad_input("the upload can be read only once"))?;
        let mut streaming = live.expected_len.filter(|len| *len > 0).and_then(|len| self.blobs.put_stream(key, len));
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
            let mut hasher = digest::Hasher::new();
            for piece in pieces {
                hasher.update(&piece);
            }
            digest::hex(hasher)
        });
        let mut size = 0u64;
        let received: ApiResult<()> = loop {
            match chunks.recv().await {
                Some(Ok(FileChunk::End)) => break Ok(()),
                Some(Ok(FileChunk::Bytes(chunk))) => {
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
                let url = self.blobs.presign_get(key, std::time::Duration::from_secs(300)).await?.url;
                self.probe(move |decoding, limits| decoding.probe(MediaSource::Url(&url), limits)).await?
            }
            None => {
                let path = live.path.clone();
                self.probe(move |decoding, limits| decoding.probe(MediaSource::File(&path), limits)).await?
            }
        };
        let info = match probed {
            Ok(info) => info,
            Err(reason) => {
                if streamed {
                    remove_quietly(self.blobs, key).await;
                }
                return Err(ApiError::UnsupportedMedia(format!("not a video that can be analysed: {reason}")));
            }
        };
        if !streamed {
            self.blobs.put_file(key, &live.path).await?;
        }
        let sha256 = tokio::task::spawn_blocking(move || hashing.join())
            .await
            .map_err(anyhow::Error::new)?
            .map_err(|_| anyhow::anyhow!("the hashing thread panicked"))?;
        self.record(session, key, sha256, size, &info).await
    }

    /// Starts a direct upload of exactly `size` bytes to a fresh incoming key: a URL to PUT
    /// them to, valid for `ttl`. The stored object's type is ours (opaque bytes), never the
    /// client's. An earlier upload of the session that was never completed is removed.
    pub async fn start_direct_upload(
        &self,
        session: session::Model,
        key: String,
        size: u64,
        ttl: std::time::Duration,
    ) -> ApiResult<SignedRequest> {
        let abandoned = session.video_upload_key.clone();
        let signed = self.blobs.presign_put(&key, size, "application/octet-stream", ttl).await?;
        let mut model = session.into_active_model();
        model.video_upload_key = Set(Some(key));
        model.video_upload_size = Set(Some(size as i64));
        model.video_upload_expires_at = Set(Some(signed.expires_at));
        let txn = crate::db::begin_write(self.db).await?;
        model.update(&txn).await?;
        self.append_audit(&txn).await?;
        txn.commit().await?;
        if let Some(abandoned) = abandoned {
            remove_quietly(self.blobs, &abandoned).await;
        }
        Ok(signed)
    }

    /// Finishes a direct upload: checks the object is there with the announced size, moves it
    /// to `key` (so the upload URL can no longer reach it) and makes it the session's video if
    /// it is a decodable one. A refused upload is forgotten, so the session may be uploaded
    /// again.
    pub async fn complete_direct_upload(&self, session: session::Model, key: &str) -> ApiResult<session::Model> {
        let (Some(incoming), Some(expected)) = (session.video_upload_key.clone(), session.video_upload_size) else {
            return Err(ApiError::bad_input("no upload in progress: call createVideoUpload first"));
        };
        match self.blobs.size(&incoming).await? {
            None => return Err(ApiError::bad_input("nothing has been uploaded to the upload URL yet")),
            Some(size) if size != expected as u64 => {
                return Err(ApiError::bad_input(format!("{size} of the announced {expected} bytes arrived")));
            }
            Some(_) => {}
        }
        self.blobs.rename(&incoming, key).await?;
        match self.accept_stored(session.clone(), key).await {
            Ok(stored) => Ok(stored),
            Err(error) => {
                let mut model = session.into_active_model();
                model.video_upload_key = Set(None);
                model.video_upload_size = Set(None);
                model.video_upload_expires_at = Set(None);
                model.update(self.db).await?;
                Err(error)
            }
        }
    }
}

/// Deletes a blob, logging (not failing) when the store refuses: the database no longer points
/// at it, so at worst it is an orphan to clean up.
pub async fn remove_quietly(blobs: &dyn BlobStore, key: &str) {
    if let Err(error) = blobs.delete(key).await {
        tracing::warn!(key, error = format!("{error:#}"), "could not delete a blob");
    }
}
