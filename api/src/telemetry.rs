//! Logging set-up. sqlx logs every statement at INFO, hence the default `sqlx=warn`.

use tracing_subscriber::{EnvFilter, fmt};

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"))
}

pub fn init() {
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    let _ = fmt().with_env_filter(filter()).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

/// Logs through the test harness's capture, so a passing test prints nothing. Safe to call
/// from every test (only the first call installs the subscriber).
pub fn init_for_tests() {
    let _ = fmt().with_env_filter(filter()).with_test_writer().try_init();
}
