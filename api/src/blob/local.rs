//! The embedded default's blob store: files under `<data dir>/blobs`, served and received by
//! the gateway itself on URLs it signs.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use async_trait::async_trait;
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{BlobStore, SignedRequest, UrlSigner};
use crate::private_files;

pub struct LocalStore {
    root: PathBuf,
    public_url: String,
    signer: UrlSigner,
}

impl LocalStore {
    pub fn new(root: PathBuf, public_url: String, signer: UrlSigner) -> anyhow::Result<Self> {
        private_files::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
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

    /// Streams a request body into `key`, refusing more than `size` bytes or a pause longer
    /// than `idle`. Written to a
    /// temporary file first and renamed, so an interrupted upload leaves nothing behind.
    pub async fn receive(
        &self,
        key: &str,
        size: u64,
        idle: Duration,
        mut body: impl tokio::io::AsyncRead + Unpin,
    ) -> anyhow::Result<Result<u64, String>> {
        let path = self.path(key)?;
        let dir = path.parent().context("a blob key has a folder")?;
        private_files::create_dir_all_async(dir).await?;
        // One name per key, created exclusively: a second upload to the same URL while the
        // first is under way is refused rather than written beside it.
        let name = path.file_name().context("a blob key names a file")?.to_string_lossy().into_owned();
        let partial = dir.join(format!(".partial-{name}"));
        let mut file = match tokio::fs::OpenOptions::from(private_files::new_file()).open(&partial).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(Err("an upload to this URL is already under way".to_owned()));
            }
            Err(error) => return Err(error.into()),
        };
        let mut buffer = vec![0u8; 1 << 20];
        let mut written = 0u64;
        let outcome = loop {
            let read = match tokio::time::timeout(idle, body.read(&mut buffer)).await {
                Ok(Ok(0)) => break Ok(()),
                Ok(Ok(read)) => read,
                Ok(Err(error)) => break Err(format!("the upload was interrupted: {error}")),
                Err(_) => break Err(format!("the upload stalled: no data for {} s", idle.as_secs())),
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
        private_files::create_dir_all_async(dir).await?;
        let partial = dir.join(format!(".partial-{}", uuid::Uuid::new_v4()));
        // Same file system: a rename is instant; otherwise copy, then rename into place.
        if tokio::fs::rename(path, &partial).await.is_err() {
            tokio::fs::copy(path, &partial).await.with_context(|| format!("copying into {}", target.display()))?;
        }
        private_files::restrict(&partial)?;
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

    async fn rename(&self, from: &str, to: &str) -> anyhow::Result<()> {
        let target = self.path(to)?;
        private_files::create_dir_all_async(target.parent().context("a blob key has a folder")?).await?;
        tokio::fs::rename(self.path(from)?, &target).await.context("moving the upload into place")?;
        Ok(())
    }

    async fn keys_older_than(&self, prefix: &str, age: Duration) -> anyhow::Result<Vec<String>> {
        let (root, start) = (self.root.clone(), self.path(prefix.trim_end_matches('/'))?);
        tokio::task::spawn_blocking(move || {
            let cutoff = std::time::SystemTime::now() - age;
            let mut keys = Vec::new();
            let mut folders = vec![start];
            while let Some(folder) = folders.pop() {
                let entries = match std::fs::read_dir(&folder) {
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                    entries => entries?,
                };
                for entry in entries {
                    let entry = entry?;
                    // `.partial-…` files are uploads being written, not objects.
                    if entry.file_name().to_string_lossy().starts_with('.') {
                        continue;
                    }
                    let metadata = entry.metadata()?;
                    if metadata.is_dir() {
                        folders.push(entry.path());
                    } else if metadata.modified()? < cutoff {
                        let relative = entry.path().strip_prefix(&root)?.to_string_lossy().replace('\\', "/");
                        keys.push(relative);
                    }
                }
            }
            Ok(keys)
        })
        .await?
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

#[cfg(test)]
mod tests {
    use super::*;

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
