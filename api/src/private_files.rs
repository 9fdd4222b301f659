//! Files only this service's own user may read: 0600 files in 0700 folders. The data directory
//! holds children's videos, their records (the SQLite file) and the signing secret; another
//! account on the same machine must not be able to read any of it.

use std::{
    io,
    path::{Path, PathBuf},
};

/// Creates `dir` and its missing parents as 0700 folders.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// `create_dir_all`, off the async executor.
pub async fn create_dir_all_async(dir: &Path) -> io::Result<()> {
    let dir: PathBuf = dir.to_owned();
    tokio::task::spawn_blocking(move || create_dir_all(&dir)).await.map_err(io::Error::other)?
}

/// Options that create a new file as 0600.
pub fn new_file() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Makes an existing file 0600 (one copied in from elsewhere keeps its source's mode).
pub fn restrict(path: &Path) -> io::Result<()> {
    set_mode(path, 0o600)
}

/// Makes an existing folder 0700: what an older version left readable inside it is then out
/// of other users' reach too.
pub fn restrict_dir(path: &Path) -> io::Result<()> {
    set_mode(path, 0o700)
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
