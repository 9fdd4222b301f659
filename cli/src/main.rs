//! `imind`: one binary for the gateway, the workers and the tools around them, as a thin layer
//! over the `imind_api` library and the `imind_inference` engine.
//!
//! # Layout
//! - `main.rs` — the allocator and the entry point.
//! - `cli` — the subcommands (clap) and their dispatch; the password prompt; Ctrl-C/SIGTERM.
//! - `analyze` — `imind analyze`: progress bar, the API-shaped JSON of a result.
//! - `timeline_png` — the per-person timeline picture (plotters).

mod analyze;
mod cli;
mod timeline_png;

use clap::Parser;
use cli::{Cli, run};

/// mimalloc instead of glibc's malloc: when a job ends, thousands of subscriptions end on both
/// runtime threads at once, each freeing what the other allocated, and mimalloc frees across
/// threads without the lock glibc's arenas take (docs/perf.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Before any thread starts: it writes the environment FFmpeg reads.
    imind_inference::restrict_ffmpeg();
    // `imind media-child …`: this program probing or decoding one video for its parent, with
    // nothing else (no logging on the stdout it answers on, no runtime).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(imind_inference::CHILD_ARGUMENT) {
        return imind_inference::child_main(&args[1..]);
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async_main())
}

async fn async_main() -> std::process::ExitCode {
    imind_api::init_logging();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
