//! Probing and decoding in a child process with a memory limit, so that a file which makes
//! FFmpeg run away (frames that grow after the header and the first, a codec bug) ends the
//! child and fails that one video — not the gateway or worker serving everyone else.
//!
//! The child is the same program started as `<program> media-child …` ([`child_main`]); its
//! data segment is capped with `RLIMIT_DATA` (private writable memory: heap and anonymous maps,
//! not the shared libraries), and glibc keeps two malloc arenas so that reserved-but-unused
//! arenas do not count against it. It answers on stdout ([`framing`]); the parent trusts none
//! of it: a probe's answer is checked against the limits again, a frame larger than the video
//! is refused before its buffer exists, a child that hangs or says nonsense is killed.

mod child;
mod framing;

pub use child::child_main;

use std::{
    io::{BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;

use crate::video::{self, Decoded, MediaLimits, VideoError, VideoInfo};
use framing::{MaxFrame, Message};

/// The first argument that makes a program its own media child.
pub const CHILD_ARGUMENT: &str = "media-child";

/// How long a probe may take (headers and one frame) before the child is stopped.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a decoding child may go without sending anything before it is stopped.
const DECODE_SILENCE: Duration = Duration::from_secs(120);

/// What to open: a file, or an HTTP(S) URL FFmpeg reads with range requests.
#[derive(Clone, Copy, Debug)]
pub enum MediaSource<'a> {
    File(&'a Path),
    Url(&'a str),
}

/// Where videos are probed and decoded.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Decoding {
    /// In this process: for tools and for the decoder's own tests.
    #[default]
    InProcess,
    /// In child processes of `program` (a binary that calls [`child_main`] when started with
    /// [`CHILD_ARGUMENT`]), each limited to `max_memory_bytes` of data.
    Isolated { program: PathBuf, max_memory_bytes: u64 },
}

impl Decoding {
    /// [`video::probe_within`] (or [`video::probe_url`]), here or in a child.
    pub fn probe(&self, source: MediaSource<'_>, limits: &MediaLimits) -> Result<VideoInfo, VideoError> {
        let Self::Isolated { program, max_memory_bytes } = self else {
            return match source {
                MediaSource::File(path) => video::probe_within(path, limits),
                MediaSource::Url(url) => video::probe_url(url, limits),
            };
        };
        let limits_json = serde_json::to_string(limits).expect("limits serialise. This is a bug.");
        let mut command = child_command(program, *max_memory_bytes);
        let stdin = match source {
            MediaSource::File(path) => {
                command.args(["probe", "file"]).arg(path).arg(limits_json);
                None
            }
            MediaSource::Url(url) => {
                command.args(["probe", "url", "-"]).arg(limits_json).stdin(Stdio::piped());
                Some(url)
            }
        };
        let mut running = Running::start(command, *max_memory_bytes)?;
        if let (Some(url), Some(mut input)) = (stdin, running.child.stdin.take()) {
            // A write error means the child is gone; its silence is reported below.
            let _ = input.write_all(url.as_bytes());
        }
        let info = running.probe()?;
        video::admit(&info, limits)?;
        Ok(info)
    }

    /// [`video::spawn_decoder`], here or in a child: the same messages on the same kind of
    /// channel. The returned thread owns the child and reaps it.
    pub fn spawn_decoder(
        &self,
        path: &Path,
        info: &VideoInfo,
        analysis_fps: Option<f64>,
        capacity: usize,
        cancel: CancellationToken,
    ) -> Result<(Receiver<Decoded>, JoinHandle<()>), VideoError> {
        let Self::Isolated { program, max_memory_bytes } = self else {
            return video::spawn_decoder(path, info, analysis_fps, capacity, cancel);
        };
        let info_json = serde_json::to_string(info).expect("video info serialises. This is a bug.");
        let fps = analysis_fps.map_or_else(|| "-".to_owned(), |fps| fps.to_string());
        let mut command = child_command(program, *max_memory_bytes);
        command.arg("decode").arg(path).args([info_json, fps]);
        let running = Running::start(command, *max_memory_bytes)?;
        // A decoded frame is never larger than the header says, nor than the shrink allows.
        let side = |header: i32| header.min(video::MAX_DECODED_SIDE);
        let max_frame = MaxFrame { rows: side(info.height), cols: side(info.width) };
        let (sender, receiver) = sync_channel(capacity);
        let handle = std::thread::Builder::new()
            .name("imind-decode-child".into())
            .spawn(move || running.forward(max_frame, &sender, &cancel))
            .map_err(|error| VideoError::Corrupt(format!("could not start the decoder: {error}")))?;
        Ok((receiver, handle))
    }
}

fn child_command(program: &Path, max_memory_bytes: u64) -> Command {
    let mut command = Command::new(program);
    command
        .arg(CHILD_ARGUMENT)
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: getrlimit and setrlimit are async-signal-safe; the closure touches nothing else.
        unsafe {
            command.pre_exec(move || {
                let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                if libc::getrlimit(libc::RLIMIT_DATA, &mut limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Never above the hard limit this process inherited (raising it needs privilege).
                let cap = max_memory_bytes.min(limit.rlim_max);
                let limit = libc::rlimit { rlim_cur: cap, rlim_max: cap };
                if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command
}

/// How a decoding child's stream ended.
enum Ending {
    Send(Decoded),
    Unreadable(std::io::Error),
    Quiet,
}

fn out_of_turn() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "answered out of turn")
}

/// `waiting_since` when nobody is waiting for the child.
const NOT_WAITING: u64 = u64::MAX;

/// A started child, killed and reaped when dropped; its stderr's tail is kept for the log.
struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    max_memory_bytes: u64,
}

impl Running {
    fn start(mut command: Command, max_memory_bytes: u64) -> Result<Self, VideoError> {
        let mut child = command.spawn().map_err(|error| {
            tracing::error!(%error, "could not start a media child");
            VideoError::Corrupt("the server could not start its decoder".into())
        })?;
        let stdout = BufReader::with_capacity(1 << 20, child.stdout.take().expect("stdout is piped. This is a bug."));
        let stderr = child.stderr.take().map(|stderr| std::thread::spawn(move || tail(stderr)));
        Ok(Self { child, stdout, stderr, max_memory_bytes })
    }

    /// The probe's answer; a watchdog stops a child that takes longer than [`PROBE_TIMEOUT`].
    fn probe(mut self) -> Result<VideoInfo, VideoError> {
        let watchdog = Watchdog::start(self.child.id(), None, PROBE_TIMEOUT, None);
        let answer = framing::read(&mut self.stdout, MaxFrame { rows: 0, cols: 0 });
        if watchdog.stop() {
            return Err(VideoError::Corrupt(format!("reading it took longer than {} s", PROBE_TIMEOUT.as_secs())));
        }
        match answer {
            Ok(Message::Probed(info)) => Ok(info),
            Ok(Message::Failed(error)) => Err(error),
            Ok(_) => Err(self.failed(&out_of_turn())),
            Err(error) => Err(self.failed(&error)),
        }
    }

    /// Passes the child's frames on until it ends, the consumer goes away or `cancel` fires;
    /// a watchdog stops a child that is cancelled or keeps us waiting for [`DECODE_SILENCE`]
    /// (time spent waiting for a slow consumer does not count).
    fn forward(mut self, max_frame: MaxFrame, sender: &SyncSender<Decoded>, cancel: &CancellationToken) {
        let waiting_since = Arc::new(AtomicU64::new(NOT_WAITING));
        let watchdog =
            Watchdog::start(self.child.id(), Some(cancel.clone()), DECODE_SILENCE, Some(waiting_since.clone()));
        let ending = loop {
            waiting_since.store(watchdog.started.elapsed().as_millis() as u64, Ordering::Relaxed);
            let message = framing::read(&mut self.stdout, max_frame);
            waiting_since.store(NOT_WAITING, Ordering::Relaxed);
            let decoded = match message {
                Ok(Message::Frame(frame)) => Decoded::Frame(frame),
                Ok(Message::End(frames_read)) => break Ending::Send(Decoded::End { frames_read }),
                Ok(Message::Failed(error)) => break Ending::Send(Decoded::Failed(error)),
                Ok(Message::Probed(_)) => break Ending::Unreadable(out_of_turn()),
                Err(error) => break Ending::Unreadable(error),
            };
            if cancel.is_cancelled() || sender.send(decoded).is_err() {
                break Ending::Quiet; // Cancelled, or the consumer stopped.
            }
        };
        // The watch ends before the child can be reaped (by `failed` or the drop).
        let silenced = watchdog.stop();
        let last = match ending {
            _ if cancel.is_cancelled() => return,
            _ if silenced => {
                let silence = format!("the decoder stopped answering for {} s", DECODE_SILENCE.as_secs());
                Decoded::Failed(VideoError::Corrupt(silence))
            }
            Ending::Send(last) => last,
            Ending::Unreadable(error) => Decoded::Failed(self.failed(&error)),
            Ending::Quiet => return,
        };
        let _ = sender.send(last);
    }

    /// Says, for a counsellor, why the child gave no (sensible) answer — the details go to
    /// the log — and makes sure it is gone: a child that stopped talking gets a moment to exit
    /// (its status tells a crash from an exit), one that talks nonsense is stopped at once.
    fn failed(&mut self, reading: &std::io::Error) -> VideoError {
        let ended = reading.kind() == std::io::ErrorKind::UnexpectedEof;
        let status = if ended { self.exit_status(Duration::from_secs(5)) } else { None };
        let _ = self.child.kill();
        let _ = self.child.wait();
        let said = self.stderr.take().and_then(|thread| thread.join().ok()).unwrap_or_default();
        tracing::warn!(status = ?status, %reading, stderr = %said, "a media child ended without an answer");
        match status {
            Some(status) => describe_exit(status, self.max_memory_bytes),
            None if ended => VideoError::Corrupt("the decoder stopped answering".into()),
            None => VideoError::Corrupt("the decoder answered nonsense".into()),
        }
    }

    /// The child's exit status, if it exits within `patience`.
    fn exit_status(&mut self, patience: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills a child that runs too long, goes silent or is cancelled. Stopped before the child is
/// reaped, so the pid it may kill cannot belong to another process yet.
struct Watchdog {
    /// What `waiting_since` counts from.
    started: Instant,
    done: Arc<AtomicBool>,
    thread: JoinHandle<bool>,
}

impl Watchdog {
    /// `waiting_since`: milliseconds from the start at which we began waiting for the child
    /// ([`NOT_WAITING`]: we are not); `None`: the whole run is one wait.
    fn start(
        pid: u32,
        cancel: Option<CancellationToken>,
        patience: Duration,
        waiting_since: Option<Arc<AtomicU64>>,
    ) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let thread = std::thread::spawn({
            let done = done.clone();
            move || {
                while !done.load(Ordering::Acquire) {
                    let since = waiting_since.as_ref().map_or(0, |since| since.load(Ordering::Relaxed));
                    let silent = since != NOT_WAITING
                        && started.elapsed().saturating_sub(Duration::from_millis(since)) > patience;
                    if silent || cancel.as_ref().is_some_and(CancellationToken::is_cancelled) {
                        // SAFETY: kill(2) of our own child, not yet reaped (see above).
                        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                        return silent;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                false
            }
        });
        Self { started, done, thread }
    }

    /// Ends the watch; whether it had to kill the child for its silence (or slowness).
    fn stop(self) -> bool {
        self.done.store(true, Ordering::Release);
        self.thread.join().unwrap_or(false)
    }
}

fn describe_exit(status: ExitStatus, max_memory_bytes: u64) -> VideoError {
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    match signal {
        // What an allocation failure inside the decoder ends in (bad_alloc aborts), or a crash.
        Some(_) => VideoError::TooLarge(format!(
            "the decoder gave up on it: it needs more than the {} MB a decoder may use, or is damaged",
            max_memory_bytes / (1 << 20)
        )),
        None => VideoError::Corrupt(format!("the decoder stopped without an answer ({status})")),
    }
}

/// The last 4 KiB the child wrote to stderr.
fn tail(mut stderr: ChildStderr) -> String {
    let mut kept = Vec::new();
    let mut buffer = [0; 4096];
    while let Ok(read) = stderr.read(&mut buffer) {
        if read == 0 {
            break;
        }
        kept.extend_from_slice(&buffer[..read]);
        if kept.len() > 4096 {
            kept.drain(..kept.len() - 4096);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}
