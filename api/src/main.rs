use clap::Parser;
use imind_api::cli::{Cli, run};

/// mimalloc instead of glibc's malloc: when a job ends, thousands of subscriptions end on both
/// runtime threads at once, each freeing what the other allocated, and glibc's per-arena locks
/// then put the threads to sleep on each other (measured with 10,000 subscribers: futex waits
/// in 10 % of the fan-out's CPU samples, the last event reaching its p99 subscriber in 107 ms
/// against 65 ms for the others). mimalloc frees across threads without a lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    imind_api::telemetry::init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
