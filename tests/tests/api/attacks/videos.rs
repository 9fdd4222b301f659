//! Files that make the decoder work for the attacker: frames too large to hold, and playlists
//! that would make the gateway fetch other addresses.

use std::time::Duration;

use imind_tests::{
    Store,
    fixtures::{self, COUNSELLOR, World},
    footage, spawn_app_with, spawn_app_with_store,
};

#[tokio::test]
async fn videos_over_the_decoder_limits_are_refused_before_decoding() {
    // The limits scaled down to the test clip (176×144, 300 frames), which then stands in for a
    // decompression bomb of 16000×16000 frames.
    let app = spawn_app_with(false, |settings| settings.max_video_pixels = 100 * 100).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let response = app.upload_video(&token, world.own_analysed.session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "UNSUPPORTED_MEDIA", "{response}");
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("larger than this server analyses") && message.contains("176×144"), "{message}");
    assert_eq!(app.stored_videos(), 0);

    let app = spawn_app_with(false, |settings| settings.max_video_frames = 100).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let response = app.upload_video(&token, world.own_analysed.session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "UNSUPPORTED_MEDIA", "{response}");
}

/// On S3 an upload is probed through its presigned URL, and FFmpeg lets a playlist opened over
/// HTTP fetch whatever HTTP addresses it names (over a local file it only allows files).
#[tokio::test]
async fn an_uploaded_playlist_makes_the_gateway_fetch_nothing() {
    let app = spawn_app_with_store(Store::S3, |_| {}).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    // Something on this machine that the playlist points at: it must never be called.
    let bait = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = bait.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "session.m3u8",
            format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:{port}/a.ts\n#EXT-X-ENDLIST\n"),
        ),
        ("session.txt", format!("ffconcat version 1.0\nfile 'http://127.0.0.1:{port}/b.mp4'\n")),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let response = app.upload_video(&token, world.own_analysed.session, &path).await;
        assert_eq!(response["errors"][0]["extensions"]["code"], "UNSUPPORTED_MEDIA", "{name}: {response}");
    }
    let called = tokio::time::timeout(Duration::from_millis(500), bait.accept()).await;
    assert!(called.is_err(), "the decoder fetched an address named in an uploaded file");
}
