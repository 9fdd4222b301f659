//! Reading a GraphQL multipart request (operations, map, then one file) ourselves, so that the
//! file part reaches the resolver as a live stream instead of a finished temporary file: the
//! video is hashed, kept on local disk for probing and sent on to the blob store while it
//! arrives — one pass, where spooling first would make two.
//!
//! When the request has a `Content-Length` and the file is its last part (always so for one
//! file under the spec), the file's length is known before its first byte: the store can take
//! it as one streaming PUT. The parser still finds the closing delimiter itself, so a request
//! that ends differently only loses that shortcut, never data.

use std::collections::HashMap;

use async_graphql::UploadValue;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use memchr::memmem;
use tokio::sync::mpsc;

/// Largest `operations` part.
const MAX_TEXT_PART: usize = 4 << 20;
/// Largest `map` part: it names one file and one variable.
const MAX_MAP_PART: usize = 16 << 10;
/// How many bytes of the file go to the resolver at a time.
const PIECE: usize = 1 << 20;
/// Largest header block of one part.
const MAX_PART_HEADERS: usize = 16 << 10;

#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error("{0}")]
    Malformed(String),
    #[error("the file is larger than the allowed {0} bytes")]
    TooLarge(u64),
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
}

fn malformed(message: impl Into<String>) -> MultipartError {
    MultipartError::Malformed(message.into())
}

/// What the file part delivers, in order: its bytes, then its end.
#[derive(Debug)]
pub enum FileChunk {
    Bytes(Bytes),
    /// The whole part has arrived (a closed channel without it means it did not).
    End,
}

/// The file part while it arrives, for the resolver that stores it.
pub struct LiveFile {
    /// Its exact length, when known in advance (see the module docs).
    pub expected_len: Option<u64>,
    /// Where the resolver should keep the local copy (the `Upload` value's file).
    pub path: std::path::PathBuf,
    /// The bytes, then the end, or an error.
    pub chunks: std::sync::Mutex<Option<mpsc::Receiver<Result<FileChunk, MultipartError>>>>,
}

/// Reads the request up to the start of its file part.
pub struct Reader<S> {
    stream: S,
    buffer: BytesMut,
    boundary: Vec<u8>,
    /// Bytes taken out of `buffer` so far (the position in the body).
    consumed: u64,
    finished: bool,
    /// The longest the body may pause.
    idle: std::time::Duration,
}

/// A parsed request: the GraphQL request with its upload set, and the file part still to come.
pub struct Parsed<S> {
    pub request: async_graphql::Request,
    pub file: Option<(LiveFile, FilePump<S>)>,
}

impl<S, E> Reader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    /// Reads the body `stream` of a request of `content_type`, which may pause for `idle` at most.
    pub fn new(stream: S, content_type: &str, idle: std::time::Duration) -> Result<Self, MultipartError> {
        let boundary = multer::parse_boundary(content_type).map_err(|error| malformed(error.to_string()))?;
        let boundary = boundary.into_bytes();
        Ok(Self { stream, buffer: BytesMut::new(), boundary, consumed: 0, finished: false, idle })
    }

    async fn fill(&mut self) -> Result<bool, MultipartError> {
        if self.finished {
            return Ok(false);
        }
        let next = tokio::time::timeout(self.idle, self.stream.next()).await.map_err(|_| {
            MultipartError::Interrupted(format!("the request stalled: no data for {} s", self.idle.as_secs()))
        })?;
        match next {
            Some(Ok(chunk)) => {
                self.buffer.extend_from_slice(&chunk);
                Ok(true)
            }
            Some(Err(error)) => Err(MultipartError::Interrupted(error.to_string())),
            None => {
                self.finished = true;
                Ok(false)
            }
        }
    }

    fn advance(&mut self, count: usize) -> Bytes {
        self.consumed += count as u64;
        self.buffer.split_to(count).freeze()
    }

    /// Reads until `needle` (consumed, not returned), refusing more than `limit` bytes before it.
    async fn until(&mut self, needle: &[u8], limit: usize) -> Result<Bytes, MultipartError> {
        let finder = memmem::Finder::new(needle);
        let mut searched = 0;
        loop {
            if let Some(at) = finder.find(&self.buffer[searched..]) {
                let found = self.advance(searched + at);
                self.advance(needle.len());
                return Ok(found);
            }
            searched = self.buffer.len().saturating_sub(needle.len() - 1);
            if searched > limit {
                return Err(malformed("a part of the request is too long"));
            }
            if !self.fill().await? {
                return Err(malformed("the request ended in the middle of a part"));
            }
        }
    }

    async fn exact(&mut self, count: usize) -> Result<Bytes, MultipartError> {
        while self.buffer.len() < count {
            if !self.fill().await? {
                return Err(malformed("the request ended early"));
            }
        }
        Ok(self.advance(count))
    }

    /// Reads the request's leading parts. `total_len` is the body's `Content-Length`;
    /// `max_file` the largest file accepted; `temp_path` where the file's copy will live.
    pub async fn read(
        mut self,
        total_len: Option<u64>,
        max_file: u64,
        temp_path: std::path::PathBuf,
    ) -> Result<Parsed<S>, MultipartError> {
        let mut first = b"--".to_vec();
        first.extend_from_slice(&self.boundary);
        // The preamble before the first delimiter is ignored.
        self.until(&first, MAX_TEXT_PART).await?;
        self.until(b"\r\n", 0).await?;
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(&self.boundary);

        let mut operations: Option<async_graphql::Request> = None;
        let mut map: Option<HashMap<String, Vec<String>>> = None;
        loop {
            let headers = self.until(b"\r\n\r\n", MAX_PART_HEADERS).await?;
            let part = PartHeaders::parse(&headers)?;
            match (part.name.as_str(), &operations, &map) {
                ("operations", None, _) => {
                    let text = self.until(&delimiter, MAX_TEXT_PART).await?;
                    let request: async_graphql::Request = serde_json::from_slice(&text)
                        .map_err(|error| malformed(format!("`operations` is not one GraphQL request: {error}")))?;
                    operations = Some(request);
                }
                ("map", Some(_), None) => {
                    let text = self.until(&delimiter, MAX_MAP_PART).await?;
                    let files: HashMap<String, Vec<String>> = serde_json::from_slice(&text)
                        .map_err(|error| malformed(format!("`map` is not a JSON object of paths: {error}")))?;
                    if files.len() > 1 {
                        return Err(malformed("one file per request"));
                    }
                    if files.values().any(|paths| paths.len() != 1) {
                        return Err(malformed("a file goes to exactly one variable"));
                    }
                    map = Some(files);
                }
                (name, Some(_), Some(files)) => {
                    let paths =
                        files.get(name).cloned().ok_or_else(|| malformed(format!("unexpected part `{name}`")))?;
                    // `\r\n--boundary--\r\n` closes the body after the file.
                    let closing = delimiter.len() as u64 + 4;
                    let expected_len = total_len.and_then(|total| total.checked_sub(self.consumed + closing));
                    if expected_len.is_some_and(|len| len > max_file) {
                        return Err(MultipartError::TooLarge(max_file));
                    }
                    let mut request = operations.take().expect("matched above");
                    let file = std::fs::File::create(&temp_path)
                        .map_err(|error| MultipartError::Interrupted(format!("no room for the upload: {error}")))?;
                    for path in paths {
                        let content = file
                            .try_clone()
                            .map_err(|error| MultipartError::Interrupted(format!("no room for the upload: {error}")))?;
                        request.set_upload(
                            &path,
                            UploadValue {
                                filename: part.filename.clone().unwrap_or_default(),
                                content_type: part.content_type.clone(),
                                content,
                            },
                        );
                    }
                    let (sender, receiver) = mpsc::channel(4);
                    let live =
                        LiveFile { expected_len, path: temp_path, chunks: std::sync::Mutex::new(Some(receiver)) };
                    let pump = FilePump { reader: self, delimiter, sender, max_file };
                    return Ok(Parsed { request, file: Some((live, pump)) });
                }
                (name, _, _) => {
                    return Err(malformed(format!("part `{name}` is out of order (operations, map, then files)")));
                }
            }
            // After a delimiter: `--` ends the body, `\r\n` starts the next part.
            if &self.exact(2).await?[..] == b"--" {
                let request = operations.ok_or_else(|| malformed("no `operations` part"))?;
                if map.as_ref().is_some_and(|files| !files.is_empty()) {
                    return Err(malformed("`map` names files that are not in the request"));
                }
                return Ok(Parsed { request, file: None });
            }
        }
    }
}

struct PartHeaders {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
}

impl PartHeaders {
    fn parse(block: &[u8]) -> Result<Self, MultipartError> {
        let text = std::str::from_utf8(block).map_err(|_| malformed("part headers are not UTF-8"))?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in text.split("\r\n") {
            let Some((header, value)) = line.split_once(':') else { continue };
            if header.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            } else if header.trim().eq_ignore_ascii_case("content-disposition") {
                for parameter in value.split(';').skip(1) {
                    let Some((key, raw)) = parameter.split_once('=') else { continue };
                    let unquoted = raw.trim().trim_matches('"').to_owned();
                    match key.trim() {
                        "name" => name = Some(unquoted),
                        "filename" => filename = Some(unquoted),
                        _ => {}
                    }
                }
            }
        }
        let name = name.ok_or_else(|| malformed("a part without a name"))?;
        Ok(Self { name, filename, content_type })
    }
}

/// Moves the file part's bytes to the resolver while it runs. Ends when the part ends, the
/// body fails, or the resolver stops listening.
pub struct FilePump<S> {
    reader: Reader<S>,
    delimiter: Vec<u8>,
    sender: mpsc::Sender<Result<FileChunk, MultipartError>>,
    max_file: u64,
}

impl<S, E> FilePump<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    pub async fn run(mut self) {
        let outcome = self.pump().await;
        let _ = self.sender.send(outcome.map(|()| FileChunk::End)).await;
    }

    async fn pump(&mut self) -> Result<(), MultipartError> {
        let finder = memmem::Finder::new(&self.delimiter).into_owned();
        let keep = self.delimiter.len() - 1;
        let mut sent = 0u64;
        // Bytes of the buffer already searched (a delimiter may straddle the edge).
        let mut searched = 0usize;
        loop {
            let from = searched.saturating_sub(keep);
            if let Some(at) = finder.find(&self.reader.buffer[from..]) {
                let last = self.reader.advance(from + at);
                sent += last.len() as u64;
                if sent > self.max_file {
                    return Err(MultipartError::TooLarge(self.max_file));
                }
                if !last.is_empty() {
                    let _ = self.sender.send(Ok(FileChunk::Bytes(last))).await;
                }
                return Ok(());
            }
            searched = self.reader.buffer.len();
            // Everything but a possible start of the delimiter can go, in pieces big enough
            // that per-piece costs (a write, a channel hop, a frame) stay small.
            let ready = self.reader.buffer.len().saturating_sub(keep);
            if ready >= PIECE {
                let chunk = self.reader.advance(ready);
                searched -= ready;
                sent += chunk.len() as u64;
                if sent > self.max_file {
                    return Err(MultipartError::TooLarge(self.max_file));
                }
                if self.sender.send(Ok(FileChunk::Bytes(chunk))).await.is_err() {
                    return Ok(());
                }
            }
            if !self.reader.fill().await? {
                return Err(MultipartError::Interrupted("the request ended before the file did".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &str = "XyZ";
    const IDLE: std::time::Duration = std::time::Duration::from_secs(5);

    fn body(file: &[u8], epilogue: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n");
        body.extend_from_slice(br#"{"query":"mutation($f: Upload!) { x(file: $f) }","variables":{"f":null}}"#);
        body.extend_from_slice(
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{\"0\":[\"variables.f\"]}",
        );
        body.extend_from_slice(
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"0\"; filename=\"clip.mp4\"\r\nContent-Type: video/mp4\r\n\r\n",
        );
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n--XyZ--");
        body.extend_from_slice(epilogue.as_bytes());
        body
    }

    /// Parses `body` arriving in chunks of `chunk` bytes; returns the announced length and the
    /// file's bytes as the resolver would receive them.
    async fn parse(body: Vec<u8>, chunk: usize, max: u64) -> Result<(Option<u64>, Vec<u8>), MultipartError> {
        let total = body.len() as u64;
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            body.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let reader = Reader::new(
            futures_util::stream::iter(chunks),
            &format!("multipart/form-data; boundary={BOUNDARY}"),
            IDLE,
        )?;
        let dir = tempfile::tempdir().unwrap();
        let parsed = reader.read(Some(total), max, dir.path().join("copy")).await?;
        assert_eq!(parsed.request.uploads.len(), 1);
        assert_eq!(parsed.request.uploads[0].filename, "clip.mp4");
        let (live, pump) = parsed.file.expect("a file part");
        let mut receiver = live.chunks.lock().unwrap().take().unwrap();
        let pumping = tokio::spawn(pump.run());
        let mut file = Vec::new();
        while let FileChunk::Bytes(chunk) = receiver.recv().await.expect("an end marker")? {
            file.extend_from_slice(&chunk);
        }
        pumping.await.unwrap();
        Ok((live.expected_len, file))
    }

    #[tokio::test]
    async fn the_file_streams_out_whole_and_its_length_is_known_up_front() {
        // Bytes that look like the delimiter's start must not end the file early.
        let file: Vec<u8> =
            (0..10_000u32).flat_map(|i| if i % 97 == 0 { b"\r\n--Xy".to_vec() } else { vec![i as u8] }).collect();
        for chunk in [1, 7, 4096, 1 << 20] {
            let (expected, received) = parse(body(&file, "\r\n"), chunk, 1 << 30).await.unwrap();
            assert_eq!(received, file, "chunks of {chunk}");
            assert_eq!(expected, Some(file.len() as u64));
        }
    }

    #[tokio::test]
    async fn an_unusual_ending_only_loses_the_known_length() {
        let file = b"not much of a video".to_vec();
        let (expected, received) = parse(body(&file, "\r\nan epilogue"), 5, 1 << 30).await.unwrap();
        assert_eq!(received, file);
        assert_ne!(expected, Some(file.len() as u64), "the announced length is wrong, and the resolver notices");
    }

    #[tokio::test]
    async fn too_large_and_truncated_bodies_are_errors() {
        let file = vec![7u8; 5000];
        assert!(matches!(parse(body(&file, "\r\n"), 512, 100).await, Err(MultipartError::TooLarge(100))));
        let mut cut = body(&file, "\r\n");
        cut.truncate(cut.len() - 100);
        let total = cut.len();
        let result = parse(cut, 512, 1 << 30).await;
        assert!(matches!(result, Err(MultipartError::Interrupted(_))), "{total}: {:?}", result.err());
    }
}
