//! The `imind` binary itself: export-schema, migrate, create-user, and serve with a graceful
//! SIGTERM shutdown.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn imind(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imind"));
    command
        .current_dir(data_dir)
        .env_remove("IMIND_DATABASE_URL")
        .env_remove("IMIND_PASSWORD")
        .env("IMIND_DATA_DIR", data_dir.join("data"))
        .env("IMIND_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    command
}

#[test]
fn export_schema_prints_the_committed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let output = imind(dir.path()).arg("export-schema").output().unwrap();
    assert!(output.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

#[test]
fn create_user_validates_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = imind(dir.path()).arg("migrate").output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    assert!(dir.path().join("data/imind.db").exists(), "the embedded default is a SQLite file under ./data");

    let create = |password: &str| {
        let mut child = imind(dir.path())
            .args(["create-user", "--email", "Boss@Example.org", "--role", "ADMIN", "--org", "Clinic"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let short = create("short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));
    let created = create("a good long password");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stderr).contains("created boss@example.org (ADMIN)"));
    let again = create("a good long password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test]
async fn serve_answers_logins_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let status = imind(dir.path())
        .args(["create-user", "--email", "a@b.org", "--role", "COUNSELLOR", "--org", "Clinic"])
        .env("IMIND_PASSWORD", "a good long password")
        .status()
        .unwrap();
    assert!(status.success());

    let mut server = imind(dir.path()).arg("serve").stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("the server logs before exiting").unwrap();
        if let Some((_, rest)) = line.split_once("address=") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .json(&serde_json::json!({ "query": "mutation { login(email: \"a@b.org\", password: \"a good long password\") { user { role } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["data"]["login"]["user"]["role"], "COUNSELLOR");

    let started = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "a SIGTERM is a clean shutdown: {exit:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A file fetched by scripts/fetch-footage.sh.
fn footage(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("IMIND_FOOTAGE_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/imind/footage")
    });
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing: run scripts/fetch-footage.sh", path.display());
    path
}

#[test]
fn analyze_writes_json_and_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let (json, png) = (dir.path().join("result.json"), dir.path().join("timeline.png"));
    let output = imind(dir.path())
        .arg("analyze")
        .arg(footage("Megamind.avi"))
        .arg("--json")
        .arg(&json)
        .arg("--timeline")
        .arg(&png)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("720×528"), "{summary}");
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(result["video"]["frameCount"], 270);
    let objects = result["objects"].as_array().unwrap();
    assert!(!objects.is_empty());
    let interval =
        objects.iter().flat_map(|o| o["emotionIntervals"].as_array().unwrap()).next().expect("a face was read");
    for field in ["emotion", "startMs", "endMs", "meanConfidence", "peakConfidence"] {
        assert!(interval.get(field).is_some(), "{field} in {interval}");
    }
    let picture = std::fs::read(&png).unwrap();
    assert!(picture.starts_with(b"\x89PNG"), "a PNG file");

    let broken = dir.path().join("broken.mp4");
    std::fs::write(&broken, b"definitely not a video").unwrap();
    let output = imind(dir.path()).arg("analyze").arg(&broken).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a video that can be decoded"));
}

#[test]
fn eval_expressions_prints_and_writes_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    // happy/: the smiling astronaut, a face the engine finds; neutral/: a grey picture, in
    // which it finds none (a miss, counted wrong).
    for class in ["happy", "neutral"] {
        std::fs::create_dir_all(set.join(class)).unwrap();
    }
    std::fs::copy(footage("astronaut.png"), set.join("happy/astronaut.png")).unwrap();
    let grey =
        opencv::core::Mat::new_rows_cols_with_default(96, 96, opencv::core::CV_8UC3, opencv::core::Scalar::all(128.0))
            .unwrap();
    let path = set.join("neutral/grey.png");
    opencv::imgcodecs::imwrite(path.to_str().unwrap(), &grey, &opencv::core::Vector::new()).unwrap();
    let json = dir.path().join("figures.json");
    let output = imind(dir.path()).args(["eval", "expressions"]).arg(&set).arg("--json").arg(&json).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("mode engine: 2 images, faces found in 1 (50.0 %)"), "{printed}");
    assert!(printed.contains("accuracy 50.0 % (of faces found 100.0 %)"), "{printed}");
    let figures: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(figures["images"], 2);
    assert_eq!(figures["labels"][3], "HAPPY");
    assert_eq!(figures["confusion"][3][3], 1, "{figures}");
    assert_eq!(figures["noFace"][6], 1, "{figures}");
    assert_eq!(figures["classes"][3]["recall"], 1.0);

    // Pre-cropped faces: every image is classified, the grey one as something.
    let whole = imind(dir.path()).args(["eval", "expressions", "--whole-image"]).arg(&set).output().unwrap();
    assert!(String::from_utf8_lossy(&whole.stdout).contains("faces found in 2 (100.0 %)"));

    // A folder that is not a class is refused by name.
    std::fs::create_dir(set.join("joy")).unwrap();
    let refused = imind(dir.path()).args(["eval", "expressions"]).arg(&set).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("\"joy\" is not a class"));
}
