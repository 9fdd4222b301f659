//! Where videos live: one small trait, two implementations chosen by configuration.
//!
//! - [`LocalStore`] (embedded default): files under `<data dir>/blobs`. Direct uploads and
//!   downloads go through the gateway itself, on URLs it signs (HMAC-SHA256, with expiry).
//! - [`S3Store`]: any S3-compatible server through aws-sdk-s3; direct uploads and downloads are
//!   presigned URLs to the store.
//!
//! Keys are derived from ids (`o/<organisation>/c/<child>/s/<session>/<upload>`), never from
//! a client's file name.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let id = |uuid: uuid::Uuid| URL_SAFE_NO_PAD.encode(uuid.as_bytes());
    format!("o/{}/c/{}/s/{}/{}", id(organisation), id(child), id(session), id(uuid::Uuid::now_v7()))
}

/// Signs and checks the gateway's own URLs (local store).
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

impl UrlSigner {
    pub fn new(secret: &[u8]) -> Self {
        // A key of its own, derived from the server secret, so a URL signature can never be
        // mistaken for a token signature.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"imind blob urls");
        Self { key: mac.finalize().into_bytes().to_vec() }
    }

    fn mac(&self, method: &str, key: &str, size: Option<u64>, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{method}\n{key}\n{}\n{expires}", size.map_or(String::new(), |s| s.to_string())).as_bytes());
        mac
    }

    pub fn sign(&self, method: &str, key: &str, size: Option<u64>, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(method, key, size, expires).finalize().into_bytes())
    }

    /// Whether `signature` is valid and unexpired (constant-time comparison).
    pub fn verify(&self, method: &str, key: &str, size: Option<u64>, expires: i64, signature: &str) -> bool {
        if expires < Utc::now().timestamp() {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        self.mac(method, key, size, expires).verify_slice(&bytes).is_ok()
    }
}

pub struct LocalStore {
    root: PathBuf,
    public_url: String,
    signer: UrlSigner,
}

impl LocalStore {
    pub fn new(root: PathBuf, public_url: String, signer: UrlSigner) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Self { root, public_url: public_url.trim_end_matches('/').to_owned(), signer })
    }

    pub fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        anyhow::ensure!(
            !key.is_empty() && key.split('/').all(|part| !part.is_empty() && part != "." && part != ".."),
            "invalid blob key"
        );
        Ok(self.root.join(key))
    }

    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }

    /// Streams a request body into `key`, refusing more than `size` bytes. Written to a
    /// temporary file first and renamed, so an interrupted upload leaves nothing behind.
    pub async fn receive(
        &self,
        key: &str,
        size: u64,
        mut body: impl tokio::io::AsyncRead + Unpin,
    ) -> anyhow::Result<Result<u64, String>> {
        let path = self.path(key)?;
        let dir = path.parent().context("a blob key has a folder")?;
        tokio::fs::create_dir_all(dir).await?;
        let partial = dir.join(format!(".partial-{}", uuid::Uuid::new_v4()));
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut buffer = vec![0u8; 1 << 20];
        let mut written = 0u64;
        let outcome = loop {
            let read = match body.read(&mut buffer).await {
                Ok(0) => break Ok(()),
                Ok(read) => read,
                Err(error) => break Err(format!("the upload was interrupted: {error}")),
            };
            written += read as u64;
            if written > size {
                break Err(format!("more than the announced {size} bytes"));
            }
            if let Err(error) = file.write_all(&buffer[..read]).await {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(error.into());
            }
        };
        match outcome {
            Ok(()) if written == size => {
                file.flush().await?;
                drop(file);
                tokio::fs::rename(&partial, &path).await?;
                Ok(Ok(written))
            }
            Ok(()) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Ok(Err(format!("{written} of the announced {size} bytes arrived")))
            }
            Err(reason) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Ok(Err(reason))
            }
        }
    }

    fn url(&self, method: &'static str, key: &str, size: Option<u64>, ttl: Duration) -> SignedRequest {
        let expires_at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::minutes(15));
        let expires = expires_at.timestamp();
        let signature = self.signer.sign(method, key, size, expires);
        let size_param = size.map_or(String::new(), |s| format!("&size={s}"));
        SignedRequest {
            url: format!("{}/blobs/{key}?expires={expires}{size_param}&signature={signature}", self.public_url),
            method,
            headers: Vec::new(),
            expires_at,
        }
    }
}

#[async_trait]
impl BlobStore for LocalStore {
    async fn put_file(&self, key: &str, path: &Path) -> anyhow::Result<()> {
        let target = self.path(key)?;
        let dir = target.parent().context("a blob key has a folder")?;
        tokio::fs::create_dir_all(dir).await?;
        let partial = dir.join(format!(".partial-{}", uuid::Uuid::new_v4()));
        // Same file system: a rename is instant; otherwise copy, then rename into place.
        if tokio::fs::rename(path, &partial).await.is_err() {
            tokio::fs::copy(path, &partial).await.with_context(|| format!("copying into {}", target.display()))?;
        }
        tokio::fs::rename(&partial, &target).await?;
        Ok(())
    }

    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        match tokio::fs::metadata(self.path(key)?).await {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    async fn download(&self, key: &str, to: &Path) -> anyhow::Result<()> {
        tokio::fs::copy(self.path(key)?, to).await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
            _ => Ok(()),
        }
    }

    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        _content_type: &str,
        ttl: Duration,
    ) -> anyhow::Result<SignedRequest> {
        Ok(self.url("PUT", key, Some(size), ttl))
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> anyhow::Result<SignedRequest> {
        Ok(self.url("GET", key, None, ttl))
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }
}

pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub force_path_style: bool,
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// Parts of a multipart upload (S3 wants ≥ 5 MiB for all but the last), and how many travel at
/// once.
const PART_SIZE: usize = 8 << 20;
const PARTS_IN_FLIGHT: usize = 2;

impl S3Store {
    pub fn new(settings: &S3Settings) -> Self {
        use aws_sdk_s3::config::{
            BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
        };
        use aws_smithy_http_client::tls;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            // Checksums only where S3 requires them: the SDK's default streaming trailers
            // (aws-chunked) are not understood by every S3-compatible server.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .region(Region::new(settings.region.clone()))
            .endpoint_url(&settings.endpoint)
            .force_path_style(settings.force_path_style)
            .credentials_provider(Credentials::new(&settings.access_key, &settings.secret_key, None, None, "imind"))
            .http_client(http)
            .build();
        Self { client: aws_sdk_s3::Client::from_conf(config), bucket: settings.bucket.clone() }
    }

    /// Creates the bucket if it does not exist (tests, first start of a cluster).
    pub async fn ensure_bucket(&self) -> anyhow::Result<()> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        self.client.create_bucket().bucket(&self.bucket).send().await.context("creating the bucket")?;
        Ok(())
    }

    /// Uploads the file's parts, a few at a time (one part in flight per round trip would
    /// leave the link idle); memory stays near `PARTS_IN_FLIGHT × PART_SIZE`.
    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        path: &Path,
    ) -> anyhow::Result<Vec<aws_sdk_s3::types::CompletedPart>> {
        use aws_sdk_s3::{primitives::ByteStream, types::CompletedPart};
        use futures_util::{StreamExt, TryStreamExt};
        let size = tokio::fs::metadata(path).await?.len();
        let count = size.div_ceil(PART_SIZE as u64).max(1);
        futures_util::stream::iter(1..=count)
            .map(|number| async move {
                let mut file = tokio::fs::File::open(path).await?;
                tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start((number - 1) * PART_SIZE as u64))
                    .await?;
                let mut chunk = Vec::with_capacity(PART_SIZE);
                file.take(PART_SIZE as u64).read_to_end(&mut chunk).await?;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number as i32)
                    .body(ByteStream::from(chunk))
                    // The content hash would be a second pass over every byte on the CPU; TLS
                    // (or the trusted network to a local server) protects integrity instead.
                    .customize()
                    .disable_payload_signing()
                    .send()
                    .await
                    .with_context(|| format!("uploading part {number}"))?;
                anyhow::Ok(
                    CompletedPart::builder()
                        .part_number(number as i32)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .build(),
                )
            })
            .buffered(PARTS_IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn put_file(&self, key: &str, path: &Path) -> anyhow::Result<()> {
        use aws_sdk_s3::{primitives::ByteStream, types::CompletedMultipartUpload};
        let size = tokio::fs::metadata(path).await?.len();
        if size <= PART_SIZE as u64 {
            let body = ByteStream::from_path(path).await.context("reading the upload")?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(body)
                .send()
                .await
                .context("storing the video")?;
            return Ok(());
        }
        let upload = self.client.create_multipart_upload().bucket(&self.bucket).key(key).send().await?;
        let upload_id = upload.upload_id().context("S3 returned no upload id")?.to_owned();
        match self.upload_parts(key, &upload_id, path).await {
            Ok(parts) => {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await
                    .context("completing the multipart upload")?;
                Ok(())
            }
            Err(error) => {
                // Leave nothing behind: abandoned parts cost storage forever.
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(error)
            }
        }
    }

    /// One streaming PUT (S3 takes up to 5 GiB that way); its payload is unsigned, like the
    /// multipart parts.
    fn put_stream(&self, key: &str, size: u64) -> Option<StreamingPut> {
        use aws_sdk_s3::primitives::ByteStream;
        use futures_util::StreamExt;
        if size > 5 << 30 {
            return None;
        }
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
        let frames = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
            .map(|chunk| chunk.map(http_body::Frame::data));
        let body = ByteStream::from_body_1_x(http_body_util::StreamBody::new(frames));
        let request = self.client.put_object().bucket(&self.bucket).key(key).content_length(size as i64).body(body);
        let task = tokio::spawn(async move {
            request.customize().disable_payload_signing().send().await.context("storing the video")?;
            Ok(())
        });
        Some(StreamingPut { sender, task })
    }

    async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(anyhow::Error::new(error).context("asking S3 for the object")),
        }
    }

    async fn download(&self, key: &str, to: &Path) -> anyhow::Result<()> {
        let object =
            self.client.get_object().bucket(&self.bucket).key(key).send().await.context("fetching the video")?;
        let mut body = object.body.into_async_read();
        let mut file = tokio::fs::File::create(to).await?;
        tokio::io::copy(&mut body, &mut file).await?;
        file.flush().await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.context("deleting the video")?;
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
    ) -> anyhow::Result<SignedRequest> {
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(size as i64)
            .content_type(content_type)
            .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl)?)
            .await?;
        Ok(SignedRequest {
            url: presigned.uri().to_owned(),
            method: "PUT",
            headers: presigned.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect(),
            expires_at: Utc::now() + chrono::Duration::from_std(ttl)?,
        })
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> anyhow::Result<SignedRequest> {
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl)?)
            .await?;
        Ok(SignedRequest {
            url: presigned.uri().to_owned(),
            method: "GET",
            headers: Vec::new(),
            expires_at: Utc::now() + chrono::Duration::from_std(ttl)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_method_key_size_and_expiry() {
        let signer = UrlSigner::new(b"secret");
        let expires = Utc::now().timestamp() + 60;
        let signature = signer.sign("PUT", "a/b", Some(10), expires);
        assert!(signer.verify("PUT", "a/b", Some(10), expires, &signature));
        assert!(!signer.verify("GET", "a/b", Some(10), expires, &signature));
        assert!(!signer.verify("PUT", "a/c", Some(10), expires, &signature));
        assert!(!signer.verify("PUT", "a/b", Some(11), expires, &signature));
        assert!(!signer.verify("PUT", "a/b", Some(10), expires + 1, &signature));
        let past = Utc::now().timestamp() - 1;
        assert!(!signer.verify("PUT", "a/b", Some(10), past, &signer.sign("PUT", "a/b", Some(10), past)));
    }

    #[test]
    fn keys_cannot_escape_the_root() {
        let store =
            LocalStore::new(std::env::temp_dir().join("imind-blob-test"), "http://x".into(), UrlSigner::new(b"s"))
                .unwrap();
        assert!(store.path("../etc/passwd").is_err());
        assert!(store.path("a//b").is_err());
        assert!(store.path("organisations/1/video").is_ok());
    }
}
