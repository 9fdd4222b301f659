//! Any S3-compatible server through aws-sdk-s3: streaming and multipart uploads, presigned URLs.

use std::{path::Path, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{BlobStore, SignedRequest, StreamingPut};

pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub force_path_style: bool,
    /// Server-side encryption asked for on every object written (`x-amz-server-side-encryption`).
    pub encryption: Option<crate::config::S3Encryption>,
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    encryption: Option<aws_sdk_s3::types::ServerSideEncryption>,
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
        let encryption = settings.encryption.map(|sse| aws_sdk_s3::types::ServerSideEncryption::from(sse.as_str()));
        Self { client: aws_sdk_s3::Client::from_conf(config), bucket: settings.bucket.clone(), encryption }
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
                .set_server_side_encryption(self.encryption.clone())
                .body(body)
                .send()
                .await
                .context("storing the video")?;
            return Ok(());
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_server_side_encryption(self.encryption.clone())
            .send()
            .await?;
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
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_server_side_encryption(self.encryption.clone())
            .content_length(size as i64)
            .body(body);
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

    async fn keys_older_than(&self, prefix: &str, age: Duration) -> anyhow::Result<Vec<String>> {
        let cutoff = std::time::SystemTime::now() - age;
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            for object in page.context("listing the store")?.contents() {
                let written = object.last_modified().and_then(|at| std::time::SystemTime::try_from(*at).ok());
                if let (Some(key), Some(written)) = (object.key(), written)
                    && written < cutoff
                {
                    keys.push(key.to_owned());
                }
            }
        }
        Ok(keys)
    }

    async fn rename(&self, from: &str, to: &str) -> anyhow::Result<()> {
        // A server-side copy (videos stay under the 5 GiB a single copy allows), then the delete.
        let source = format!("{}/{}", self.bucket, from);
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .set_server_side_encryption(self.encryption.clone())
            .send()
            .await
            .context("copying the upload")?;
        self.delete(from).await
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
            // Signed, so the client must send it: the object is encrypted like every other.
            .set_server_side_encryption(self.encryption.clone())
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
            // Served as a download of opaque bytes, whatever type the object was stored with.
            .response_content_type("application/octet-stream")
            .response_content_disposition("attachment")
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
