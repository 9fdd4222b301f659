//! Video uploads against the local store and a real S3-compatible server, with curl as the
//! client: the GraphQL multipart request spec, and direct PUTs to signed/presigned URLs.

use std::path::Path;

use imind_tests::{
    Store, TestApp,
    fixtures::{self, ADMIN, COUNSELLOR, GUARDIAN, World, global_id},
    footage, spawn_app_with_store,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `uploadSessionVideo` through curl, speaking the GraphQL multipart request spec.
async fn curl_upload(app: &TestApp, token: &str, session: uuid::Uuid, file: &Path) -> Value {
    app.upload_video(token, session, file).await
}

/// curl, returning (HTTP status, body).
async fn curl(args: &[&str]) -> (u16, Vec<u8>) {
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .await
        .unwrap();
    let mut body = output.stdout;
    let newline = body.iter().rposition(|b| *b == b'\n').unwrap();
    let status = String::from_utf8_lossy(&body[newline + 1..]).trim().parse().unwrap();
    body.truncate(newline);
    (status, body)
}

fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

async fn world(store: Store, configure: impl FnOnce(&mut imind_api::Settings)) -> (TestApp, World, String) {
    let app = spawn_app_with_store(store, configure).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    (app, world, token)
}

async fn multipart_upload_stores_probes_and_serves(store: Store) {
    let (app, world, token) = world(store, |_| {}).await;
    let clip = footage("carphone_pristine.mp4");
    let bytes = std::fs::read(&clip).unwrap();
    let response = curl_upload(&app, &token, world.own_analysed.session, &clip).await;
    let session = &response["data"]["uploadSessionVideo"];
    assert_eq!(session["status"], "READY", "{response}");
    assert_eq!(session["video"]["sha256"], sha256_hex(&bytes));
    assert_eq!(session["video"]["sizeBytes"], bytes.len());
    assert_eq!((session["video"]["width"].as_i64(), session["video"]["height"].as_i64()), (Some(176), Some(144)));
    assert_eq!(app.stored_videos(), 1);

    // The short-lived link serves exactly the uploaded bytes; a tampered one is refused.
    let url = session["videoUrl"].as_str().unwrap();
    let (status, served) = curl(&[url]).await;
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&served), sha256_hex(&bytes));
    let tampered = url.replacen("/o/", "/o/x", 1);
    assert_eq!(curl(&[&tampered]).await.0, 403);

    // Uploading again replaces the video and removes the old one.
    let response = curl_upload(&app, &token, world.own_analysed.session, &footage("Megamind.avi")).await;
    assert_eq!(response["data"]["uploadSessionVideo"]["video"]["width"], 720, "{response}");
    assert_eq!(app.stored_videos(), 1, "the replaced video is gone");

    // Deleting the session deletes its video.
    let deleted = app
        .graphql(
            Some(&token),
            "mutation($id: ID!) { deleteSession(id: $id) }",
            json!({ "id": global_id("Session", world.own_analysed.session) }),
        )
        .await;
    assert_eq!(deleted.data()["deleteSession"], true);
    assert_eq!(app.stored_videos(), 0);
}

async fn bad_files_are_refused_and_leave_nothing(store: Store) {
    let (app, world, token) = world(store, |settings| settings.max_upload_bytes = 400_000).await;
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "just some notes\n".repeat(100)).unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let truncated = dir.path().join("truncated.mp4");
    let carphone = std::fs::read(footage("carphone_pristine.mp4")).unwrap();
    std::fs::write(&truncated, &carphone[..carphone.len() / 3]).unwrap();
    for (file, expected) in
        [(&text, "UNSUPPORTED_MEDIA"), (&empty, "UNSUPPORTED_MEDIA"), (&truncated, "UNSUPPORTED_MEDIA")]
    {
        let response = curl_upload(&app, &token, world.own_analysed.session, file).await;
        assert_eq!(code(&response), Some(expected), "{}: {response}", file.display());
        assert_eq!(app.stored_videos(), 0, "{} left a blob", file.display());
    }
    // 588 kB is over this server's 400 kB limit.
    let response = curl_upload(&app, &token, world.own_analysed.session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(code(&response), Some("PAYLOAD_TOO_LARGE"), "{response}");
    assert_eq!(app.stored_videos(), 0);
    // The session is still waiting for its video.
    let session = app
        .graphql(
            Some(&token),
            "query($id: ID!) { session(id: $id) { status video { sizeBytes } } }",
            json!({ "id": global_id("Session", world.own_analysed.session) }),
        )
        .await;
    assert_eq!(session.data()["session"]["video"], Value::Null);
    let tmp = std::fs::read_dir(app.settings.data_dir.join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "no temporary files left");
}

const CREATE: &str = "mutation($s: ID!, $size: Int!) { createVideoUpload(sessionId: $s, filename: \"clip.mp4\", contentType: \"video/mp4\", sizeBytes: $size) { url method headers { name value } expiresAt } }";
const COMPLETE: &str = "mutation($s: ID!) { completeVideoUpload(sessionId: $s) { status video { sha256 width } } }";

async fn put(ticket: &Value, file: &Path) -> u16 {
    // curl sends the file's real length; a presigned Content-Length that disagrees fails the
    // signature, as it should.
    let mut args: Vec<String> =
        vec!["--max-time".into(), "30".into(), "-X".into(), "PUT".into(), "-T".into(), file.display().to_string()];
    for header in ticket["headers"].as_array().unwrap().iter().filter(|h| h["name"] != "content-length") {
        args.push("-H".into());
        args.push(format!("{}: {}", header["name"].as_str().unwrap(), header["value"].as_str().unwrap()));
    }
    args.push(ticket["url"].as_str().unwrap().to_owned());
    curl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await.0
}

async fn direct_uploads_through_signed_urls(store: Store) {
    let (app, world, token) = world(store, |_| {}).await;
    let session = global_id("Session", world.own_analysed.session);
    let clip = footage("carphone_pristine.mp4");
    let size = std::fs::metadata(&clip).unwrap().len();

    let ticket = app.graphql(Some(&token), CREATE, json!({ "s": session, "size": size })).await;
    let ticket = ticket.data()["createVideoUpload"].clone();
    assert_eq!(ticket["method"], "PUT");
    // Completing before anything arrived is refused.
    let early = app.graphql(Some(&token), COMPLETE, json!({ "s": session })).await;
    assert_eq!(early.error_code(), Some("BAD_USER_INPUT"));
    // A tampered URL is refused by the store.
    let mut tampered = ticket.clone();
    tampered["url"] = Value::String(ticket["url"].as_str().unwrap().replacen("/o/", "/o/y", 1));
    assert_eq!(put(&tampered, &clip).await, 403);
    assert_eq!(put(&ticket, &clip).await, 200);
    let done = app.graphql(Some(&token), COMPLETE, json!({ "s": session })).await;
    let bytes = std::fs::read(&clip).unwrap();
    assert_eq!(done.data()["completeVideoUpload"]["status"], "READY");
    assert_eq!(done.data()["completeVideoUpload"]["video"]["sha256"], sha256_hex(&bytes));
    assert_eq!(app.stored_videos(), 1);

    // A direct upload of something that is not a video is refused at completion, and removed.
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video\n".repeat(50)).unwrap();
    let ticket = app.graphql(Some(&token), CREATE, json!({ "s": session, "size": 600 })).await;
    let ticket = ticket.data()["createVideoUpload"].clone();
    assert_eq!(put(&ticket, &text).await, 200);
    let refused = app.graphql(Some(&token), COMPLETE, json!({ "s": session })).await;
    assert_eq!(refused.error_code(), Some("UNSUPPORTED_MEDIA"), "{:?}", refused.body);
    assert_eq!(app.stored_videos(), 1, "only the earlier, valid video remains");

    // A body shorter than announced (an interrupted upload) is refused and leaves nothing.
    let ticket = app.graphql(Some(&token), CREATE, json!({ "s": session, "size": size })).await;
    let ticket = ticket.data()["createVideoUpload"].clone();
    let half = dir.path().join("half.mp4");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let status = put(&ticket, &half).await;
    assert!((400..500).contains(&status), "a short body got {status}");
    assert_eq!(app.stored_videos(), 1);
    let incomplete = app.graphql(Some(&token), COMPLETE, json!({ "s": session })).await;
    assert_eq!(incomplete.error_code(), Some("BAD_USER_INPUT"));

    // Over the limit before any byte is sent.
    let huge = app.graphql(Some(&token), CREATE, json!({ "s": session, "size": 5i64 << 30 })).await;
    assert_eq!(huge.error_code(), Some("PAYLOAD_TOO_LARGE"));
}

async fn expired_upload_urls_are_refused(store: Store) {
    let (app, world, token) = world(store, |settings| settings.upload_url_ttl_secs = 1).await;
    let clip = footage("carphone_pristine.mp4");
    let size = std::fs::metadata(&clip).unwrap().len();
    let ticket = app
        .graphql(Some(&token), CREATE, json!({ "s": global_id("Session", world.own_analysed.session), "size": size }))
        .await;
    let ticket = ticket.data()["createVideoUpload"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(put(&ticket, &clip).await, 403);
    assert_eq!(app.stored_videos(), 0);
}

async fn only_the_childs_counsellors_handle_videos(store: Store) {
    let (app, world, token) = world(store, |_| {}).await;
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let other = app.login(fixtures::OTHER_COUNSELLOR, fixtures::PASSWORD).await;
    let clip = footage("carphone_pristine.mp4");
    let own = world.own_analysed.session;
    assert_eq!(code(&curl_upload(&app, &guardian, own, &clip).await), Some("FORBIDDEN"));
    assert_eq!(code(&curl_upload(&app, &other, own, &clip).await), Some("NOT_FOUND"));
    for (who, caller) in [("guardian", &guardian), ("other counsellor", &other)] {
        let ticket = app.graphql(Some(caller), CREATE, json!({ "s": global_id("Session", own), "size": 10 })).await;
        assert!(ticket.error_code().is_some(), "{who} created an upload");
        let complete = app.graphql(Some(caller), COMPLETE, json!({ "s": global_id("Session", own) })).await;
        assert!(complete.error_code().is_some(), "{who} completed an upload");
    }
    assert_eq!(app.stored_videos(), 0);
    let uploaded = curl_upload(&app, &token, own, &clip).await;
    assert_eq!(uploaded["data"]["uploadSessionVideo"]["status"], "READY", "{uploaded}");
    let url = "query($id: ID!) { session(id: $id) { videoUrl } }";
    let variables = json!({ "id": global_id("Session", own) });
    assert_eq!(app.graphql(Some(&guardian), url, variables.clone()).await.error_code(), Some("FORBIDDEN"));
    assert_eq!(app.graphql(Some(&other), url, variables.clone()).await.error_code(), Some("NOT_FOUND"));
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    assert!(app.graphql(Some(&admin), url, variables).await.data()["session"]["videoUrl"].is_string());
}

/// A multipart body built by hand, ending the way some rare clients do: with an epilogue after
/// the closing delimiter. Its Content-Length then overstates the file, which the S3 path (one
/// streaming PUT of the announced length) must notice and refuse cleanly; the local store
/// takes it as it is.
async fn an_unusual_ending_is_refused_cleanly_or_accepted(store: Store) {
    let (app, world, token) = world(store, |_| {}).await;
    let clip = std::fs::read(footage("carphone_pristine.mp4")).unwrap();
    let operations = json!({ "query": "mutation ($s: ID!, $file: Upload!) { uploadSessionVideo(sessionId: $s, file: $file) { status } }",
        "variables": { "s": global_id("Session", world.own_analysed.session), "file": null } });
    let mut body = Vec::new();
    for (name, value) in [("operations", operations.to_string()), ("map", r#"{"0":["variables.file"]}"#.to_owned())] {
        body.extend_from_slice(
            format!("--b0undary\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(b"--b0undary\r\nContent-Disposition: form-data; name=\"0\"; filename=\"clip.mp4\"\r\n\r\n");
    body.extend_from_slice(&clip);
    body.extend_from_slice(b"\r\n--b0undary--\r\nan epilogue, which the spec lets senders add");
    let response: Value = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=b0undary")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    match store {
        Store::S3 => {
            assert_eq!(code(&response), Some("BAD_USER_INPUT"), "{response}");
            assert!(response["errors"][0]["message"].as_str().unwrap().contains("Content-Length"));
            assert_eq!(app.stored_videos(), 0, "the abandoned PUT left nothing");
        }
        Store::Local => {
            assert_eq!(response["data"]["uploadSessionVideo"]["status"], "READY", "{response}");
            assert_eq!(app.stored_videos(), 1);
        }
    }
}

/// A signed upload URL replayed after completion or erasure (an attack, see the hardening issue).
async fn upload_urls_are_single_use(store: Store) {
    let (app, world, token) = world(store, |_| {}).await;
    let session = global_id("Session", world.own_analysed.session);
    let clip = footage("carphone_pristine.mp4");
    let bytes = std::fs::read(&clip).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let forged = dir.path().join("forged.mp4");
    std::fs::write(&forged, vec![0x5a; bytes.len()]).unwrap();

    let ticket = app.graphql(Some(&token), CREATE, json!({ "s": session, "size": bytes.len() })).await;
    let ticket = ticket.data()["createVideoUpload"].clone();
    assert_eq!(put(&ticket, &clip).await, 200);
    let done = app.graphql(Some(&token), COMPLETE, json!({ "s": session })).await;
    assert_eq!(done.data()["completeVideoUpload"]["video"]["sha256"], sha256_hex(&bytes));

    // The same URL again: the local store refuses it; S3 takes it, but under the incoming key
    // the completion moved the video away from.
    let replayed = put(&ticket, &forged).await;
    if store == Store::Local {
        assert_eq!(replayed, 410, "a used ticket is dead");
    }
    let url = "query($id: ID!) { session(id: $id) { videoUrl video { sha256 } } }";
    let served = app.graphql(Some(&token), url, json!({ "id": session })).await;
    let (status, body) = curl(&[served.data()["session"]["videoUrl"].as_str().unwrap()]).await;
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&body), sha256_hex(&bytes), "the stored video is still the one completed");

    // A ticket outlives neither its replacement nor its session.
    let first = app.graphql(Some(&token), CREATE, json!({ "s": session, "size": bytes.len() })).await;
    let first = first.data()["createVideoUpload"].clone();
    let second = app.graphql(Some(&token), CREATE, json!({ "s": session, "size": bytes.len() })).await;
    let second = second.data()["createVideoUpload"].clone();
    if store == Store::Local {
        assert_eq!(put(&first, &clip).await, 410, "a replaced ticket is dead");
    }
    let erase = "mutation($id: ID!) { deleteSession(id: $id) }";
    assert_eq!(app.graphql(Some(&token), erase, json!({ "id": session })).await.data()["deleteSession"], true);
    if store == Store::Local {
        assert_eq!(put(&second, &clip).await, 410, "an erased session's ticket is dead");
        assert_eq!(app.stored_videos(), 0, "erasure stays done");
    }
}

/// Before, an S3 URL replayed after completion (or a session's erasure) left an object under
/// `incoming/` for good — erased children's footage could come back and stay. Now what no
/// session awaits is swept once its URL can no longer write; an awaited upload is kept.
async fn abandoned_uploads_are_swept(store: Store) {
    let (app, world, token) = world(store, |settings| {
        settings.upload_url_ttl_secs = 2;
        settings.upload_sweep_secs = 1;
    })
    .await;
    let clip = footage("carphone_pristine.mp4");
    let bytes = std::fs::read(&clip).unwrap();
    let completed = global_id("Session", world.own_analysed.session);
    let ticket = app.graphql(Some(&token), CREATE, json!({ "s": completed, "size": bytes.len() })).await;
    let ticket = ticket.data()["createVideoUpload"].clone();
    assert_eq!(put(&ticket, &clip).await, 200);
    app.graphql(Some(&token), COMPLETE, json!({ "s": completed })).await.data();
    match store {
        Store::S3 => assert_eq!(put(&ticket, &clip).await, 200, "S3 takes a replay until the URL expires"),
        // The local store refuses replays; what a crash between two steps could leave behind:
        Store::Local => {
            let orphan = app.settings.data_dir.join("blobs/incoming/o/left/behind");
            std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
            std::fs::write(&orphan, &bytes).unwrap();
        }
    }
    assert_eq!(app.stored_videos(), 2, "the video and an orphan");
    // Another session's upload is stored but not yet completed: awaited, so kept.
    let waiting = app.create_session(&token, world.own, "Waiting").await;
    let waiting = global_id("Session", waiting);
    let pending = app.graphql(Some(&token), CREATE, json!({ "s": waiting, "size": bytes.len() })).await;
    assert_eq!(put(&pending.data()["createVideoUpload"], &clip).await, 200);
    assert_eq!(app.stored_videos(), 3);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.stored_videos() > 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(app.stored_videos(), 2, "the orphan is swept, the video and the awaited upload stay");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let done = app.graphql(Some(&token), COMPLETE, json!({ "s": waiting })).await;
    assert_eq!(done.data()["completeVideoUpload"]["video"]["sha256"], sha256_hex(&bytes), "{}", done.body);
    let served = "query($id: ID!) { session(id: $id) { video { sha256 } } }";
    let served = app.graphql(Some(&token), served, json!({ "id": completed })).await;
    assert_eq!(served.data()["session"]["video"]["sha256"], sha256_hex(&bytes));
}

/// Served videos are downloads of opaque bytes, not pages a browser might render.
async fn served_videos_are_attachments(store: Store) {
    let (app, world, token) = world(store, |_| {}).await;
    let response = curl_upload(&app, &token, world.own_analysed.session, &footage("carphone_pristine.mp4")).await;
    let url = response["data"]["uploadSessionVideo"]["videoUrl"].as_str().unwrap().to_owned();
    let output =
        tokio::process::Command::new("curl").args(["-sS", "-D", "-", "-o", "/dev/null", &url]).output().await.unwrap();
    let headers = String::from_utf8_lossy(&output.stdout).to_lowercase();
    assert!(headers.contains("content-disposition: attachment"), "{headers}");
    assert!(headers.contains("content-type: application/octet-stream"), "{headers}");
    if store == Store::Local {
        assert!(headers.contains("x-content-type-options: nosniff"), "{headers}");
    }
}

macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod local {
            $(#[tokio::test] async fn $name() { super::$name(imind_tests::Store::Local).await })+
        }
        mod s3 {
            $(#[tokio::test] async fn $name() { super::$name(imind_tests::Store::S3).await })+
        }
    };
}

on_both_stores!(
    multipart_upload_stores_probes_and_serves,
    bad_files_are_refused_and_leave_nothing,
    direct_uploads_through_signed_urls,
    expired_upload_urls_are_refused,
    only_the_childs_counsellors_handle_videos,
    an_unusual_ending_is_refused_cleanly_or_accepted,
    upload_urls_are_single_use,
    served_videos_are_attachments,
    abandoned_uploads_are_swept,
);
