use clap::Parser;
use imind_api::cli::{Cli, run};

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
