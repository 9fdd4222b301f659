//! What another account on the gateway's machine can read of the data directory: nothing.
//! Before, videos and the SQLite file were created with the umask's mode (0644 as root's
//! default): any local user could copy a child's recordings.

use std::{os::unix::fs::PermissionsExt, path::Path};

use imind_tests::{
    backend_name,
    fixtures::{self, COUNSELLOR, World},
    footage, spawn_app_with,
};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file and folder below `dir`, with its mode.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        found.push((path.display().to_string(), mode(&path)));
        if path.is_dir() {
            found.extend(modes(&path));
        }
    }
    found
}

#[tokio::test]
async fn the_data_directory_is_private() {
    let app = spawn_app_with(false, |_| {}).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let uploaded = app.upload_video(&token, world.own_analysed.session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(uploaded["data"]["uploadSessionVideo"]["status"], "READY", "{uploaded}");
    assert_eq!(mode(&app.settings.data_dir), 0o700);
    let blobs = modes(&app.settings.data_dir.join("blobs"));
    assert!(blobs.iter().any(|(_, mode)| *mode == 0o600), "a stored video: {blobs:?}");
    for (path, mode) in &blobs {
        let private = if Path::new(path).is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, private, "{path}");
    }
    if backend_name() == "sqlite" {
        let database = app.settings.data_dir.join("test.db");
        assert_eq!(mode(&database), 0o600, "{}", database.display());
    }
}
