//! Where videos live: one small trait, two implementations chosen by configuration.
//!
//! - [`LocalStore`] (embedded default, `local`): files under `<data dir>/blobs`. Direct uploads
//!   and downloads go through the gateway itself, on URLs it signs ([`UrlSigner`], `signer`:
//!   HMAC-SHA256, with expiry).
//! - [`S3Store`] (`s3`): any S3-compatible server through aws-sdk-s3; direct uploads and
//!   downloads are presigned URLs to the store.
//! - [`LocalCopy`]: any blob as a local file, for the tools that need a path (probing, analysis).
//!
//! Keys are derived from ids (`o/<organisation>/c/<child>/s/<session>/<upload>`), never from
//! a client's file name.

mod local;
mod s3;
mod signer;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

pub use local::LocalStore;
pub use s3::{S3Settings, S3Store};
pub use signer::UrlSigner;

/// A request a client makes straight to the store.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    pub url: String,
    pub method: &'static str,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores the file at `path` under `key` (replacing nothing: keys are never reused).
    async fn put_file(&self, key: &str, path: &Path) -> anyhow::Result<()>;
    /// The stored object's size, or `None` if there is none.
    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>>;
    /// Copies the object to a local file.
    async fn download(&self, key: &str, to: &Path) -> anyhow::Result<()>;
    /// Removes the object; removing a missing one is fine.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// Moves the object to `to` (which must not exist yet).
    async fn rename(&self, from: &str, to: &str) -> anyhow::Result<()>;
    /// Keys under `prefix` whose objects were last written more than `age` ago.
    async fn keys_older_than(&self, prefix: &str, age: Duration) -> anyhow::Result<Vec<String>>;
    /// A URL the client may PUT exactly `size` bytes to, until `ttl` passes.
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
    ) -> anyhow::Result<SignedRequest>;
    /// A URL the client may GET the object from, until `ttl` passes.
    async fn presign_get(&self, key: &str, ttl: Duration) -> anyhow::Result<SignedRequest>;
    /// The local path of the object, when the store is a local directory (saves a copy).
    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }
    /// Starts storing exactly `size` bytes under `key` as they are sent, in one request,
    /// where the store supports that (`None`: use `put_file` afterwards).
    fn put_stream(&self, _key: &str, _size: u64) -> Option<StreamingPut> {
        None
    }
}

/// An upload in progress whose bytes are sent as they arrive.
pub struct StreamingPut {
    sender: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl StreamingPut {
    /// Sends the next bytes; `false` when the upload has already failed.
    pub async fn send(&mut self, chunk: bytes::Bytes) -> bool {
        self.sender.send(Ok(chunk)).await.is_ok()
    }

    /// Ends the upload after the last bytes and waits for the store to confirm it.
    pub async fn finish(self) -> anyhow::Result<()> {
        drop(self.sender);
        self.task.await.context("the upload task")?
    }

    /// Abandons the upload: the store keeps nothing.
    pub async fn abort(self) {
        let _ = self.sender.send(Err(std::io::Error::other("upload abandoned"))).await;
        drop(self.sender);
        let _ = self.task.await;
    }
}

/// `o/<organisation>/c/<child>/s/<session>/<upload>`, each id as 22 characters of URL-safe
/// base64. Short on purpose: some S3-compatible servers keep per-object metadata in file names
/// derived from the key (s3s-fs: base64 of it plus an upload id), and file names stop at 255
/// bytes.
pub fn video_key(organisation: uuid::Uuid, child: uuid::Uuid, session: uuid::Uuid) -> String {
    format!("o/{}/c/{}/s/{}/{}", short(organisation), short(child), short(session), short(uuid::Uuid::now_v7()))
}

/// Where a direct upload lands before `completeVideoUpload` moves it to a `video_key`:
/// `incoming/` and a video key. A signed URL replayed after completion writes here, never over
/// the stored video; what no session waits for is swept once its URL has expired.
pub const INCOMING: &str = "incoming/";

pub fn upload_key(organisation: uuid::Uuid, child: uuid::Uuid, session: uuid::Uuid) -> String {
    format!("{INCOMING}{}", video_key(organisation, child, session))
}

/// Where a child's export ZIP is kept until it expires; each attempt at building it writes
/// its own (a late worker that lost the export removes only its own ZIP).
pub fn export_key(organisation: uuid::Uuid, child: uuid::Uuid, export: uuid::Uuid, attempt: i32) -> String {
    format!("exports/o/{}/c/{}/{}-{attempt}.zip", short(organisation), short(child), short(export))
}

fn short(uuid: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(uuid.as_bytes())
}

/// A temporary file in `dir`, removed when dropped. The one way the gateway makes temporary
/// files (see `Settings::temp_dir`).
pub fn temp_file(dir: &Path, prefix: &str) -> std::io::Result<tempfile::TempPath> {
    Ok(tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?.into_temp_path())
}

/// A blob as a local file: the local store's own file, or a temporary copy fetched from the
/// store and removed when this is dropped.
pub struct LocalCopy {
    path: PathBuf,
    _temporary: Option<tempfile::TempPath>,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no room for a temporary copy: {0}")]
    NoRoom(std::io::Error),
    #[error("fetching from the store: {0:#}")]
    Fetch(anyhow::Error),
}

impl LocalCopy {
    pub async fn of(blobs: &dyn BlobStore, key: &str, temp_dir: &Path) -> Result<Self, CopyError> {
        if let Some(path) = blobs.local_path(key) {
            return Ok(Self { path, _temporary: None });
        }
        let temporary = temp_file(temp_dir, "blob-").map_err(CopyError::NoRoom)?;
        blobs.download(key, &temporary).await.map_err(CopyError::Fetch)?;
        Ok(Self { path: temporary.to_path_buf(), _temporary: Some(temporary) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
