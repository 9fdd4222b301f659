//! The child's side: `<program> media-child probe file <path> <limits>`,
//! `probe url - <limits>` (the URL, a presigned link, comes on stdin so that it never shows in
//! a process list), or `decode <path> <info> <fps|->`. It answers on stdout ([`framing`]).

use std::{
    io::{BufWriter, Read, Write},
    path::Path,
    process::ExitCode,
};

use tokio_util::sync::CancellationToken;

use super::framing;
use crate::video::{self, Decoded, MediaLimits, VideoError, VideoInfo};

/// The child's side: `args` are what followed [`super::CHILD_ARGUMENT`]. Call it first thing
/// in `main`, before anything writes to stdout.
pub fn child_main(args: &[String]) -> ExitCode {
    let mut output = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let served = match args {
        [verb, kind, source, limits] if verb == "probe" => probe(&mut output, kind, source, limits),
        [verb, path, info, fps] if verb == "decode" => decode(&mut output, Path::new(path), info, fps),
        _ => {
            eprintln!(
                "usage: {} probe file|url <source> <limits> | decode <path> <info> <fps|->",
                super::CHILD_ARGUMENT
            );
            return ExitCode::from(2);
        }
    };
    match served.and_then(|()| output.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // The parent stopped listening (cancelled, or gone).
        Err(_) => ExitCode::FAILURE,
    }
}

fn probe(output: &mut impl Write, kind: &str, source: &str, limits: &str) -> std::io::Result<()> {
    let Ok(limits) = serde_json::from_str::<MediaLimits>(limits) else {
        return framing::write_error(output, &VideoError::Corrupt("unreadable limits".into()));
    };
    let probed = match kind {
        "url" => {
            let mut url = String::new();
            std::io::stdin().take(1 << 16).read_to_string(&mut url)?;
            video::probe_url(url.trim(), &limits)
        }
        _ => video::probe_within(Path::new(source), &limits),
    };
    match probed {
        Ok(info) => framing::write_probed(output, &info),
        Err(error) => framing::write_error(output, &error),
    }
}

fn decode(output: &mut impl Write, path: &Path, info: &str, fps: &str) -> std::io::Result<()> {
    let Ok(info) = serde_json::from_str::<VideoInfo>(info) else {
        return framing::write_error(output, &VideoError::Corrupt("unreadable video info".into()));
    };
    let (frames, decoder) = match video::spawn_decoder(path, &info, fps.parse().ok(), 2, CancellationToken::new()) {
        Ok(started) => started,
        Err(error) => return framing::write_error(output, &error),
    };
    for message in frames {
        match message {
            Decoded::Frame(frame) => framing::write_frame(output, &frame)?,
            Decoded::End { frames_read } => framing::write_end(output, frames_read)?,
            Decoded::Failed(error) => framing::write_error(output, &error)?,
        }
    }
    let _ = decoder.join();
    Ok(())
}
