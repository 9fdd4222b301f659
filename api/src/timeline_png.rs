//! The per-person timeline picture of `imind analyze --timeline`.

use std::path::Path;

use imind_inference::AnalysisResult;

pub fn draw(_result: &AnalysisResult, path: &Path) -> anyhow::Result<()> {
    anyhow::bail!("timeline pictures are not drawn yet ({})", path.display())
}
