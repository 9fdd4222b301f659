//! Analysis jobs end to end in the embedded default: upload a real clip, start an analysis,
//! follow it with real subscription clients (the npm `graphql-ws` reference client, and the
//! legacy protocol), cancel, retry, idempotency keys, a broken video, and refusals.

use std::time::{Duration, Instant};

use imind_tests::{
    TestApp,
    fixtures::{self, COUNSELLOR, GUARDIAN, OTHER_COUNSELLOR, World, global_id, uuid_of},
    footage, spawn_app_with,
    ws::{Event, GraphQLSocket, Protocol},
};
use serde_json::{Value, json};

pub const PROGRESS: &str = "subscription($id: ID!) { analysisProgress(jobId: $id) {
    kind etaSeconds emittedAt
    job { id status stage percent framesDone framesTotal attempts error }
    newEmotionIntervals { trackId emotion startMs endMs meanConfidence peakConfidence }
    newBehaviourIntervals { trackId behaviour startMs endMs meanConfidence } } }";

const START: &str = "mutation($s: ID!, $o: AnalysisOptions, $k: String) {
    startAnalysis(sessionId: $s, options: $o, idempotencyKey: $k) { id status attempts } }";

const REPORT: &str = "query($id: ID!) { session(id: $id) { status latestJob { status percent }
    objects(first: 100) { nodes { label
      emotionIntervals(first: 100) { nodes { emotion startMs endMs } }
      behaviourIntervals(first: 100) { nodes { behaviour startMs endMs } } } } } }";

async fn app() -> (TestApp, World, String) {
    let app = spawn_app_with(false, |settings| {
        settings.worker_poll_ms = 100;
        settings.job_retry_base_secs = 0;
    })
    .await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    (app, world, token)
}

/// A new session of the counsellor's own child with `clip` uploaded.
async fn session_with(app: &TestApp, token: &str, world: &World, clip: &str) -> uuid::Uuid {
    let session = app.create_session(token, world.own, clip).await;
    let uploaded = app.upload_video(token, session, &footage(clip)).await;
    assert_eq!(uploaded["data"]["uploadSessionVideo"]["status"], "READY", "{uploaded}");
    session
}

pub async fn start(app: &TestApp, token: &str, session: uuid::Uuid, options: Value, key: Option<&str>) -> Value {
    let variables = json!({ "s": global_id("Session", session), "o": options, "k": key });
    app.graphql(Some(token), START, variables).await.data()["startAnalysis"].clone()
}

async fn job_status(app: &TestApp, token: &str, job: &str) -> Value {
    let query = "query($id: ID!) { job(id: $id) { status stage percent attempts error } }";
    app.graphql(Some(token), query, json!({ "id": job })).await.data()["job"].clone()
}

/// Waits until the job's status is one of `statuses` (the queue is asynchronous).
async fn wait_for(app: &TestApp, token: &str, job: &str, statuses: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job_now = job_status(app, token, job).await;
        if statuses.iter().any(|status| job_now["status"] == *status) {
            return job_now;
        }
        assert!(Instant::now() < deadline, "job {job} never reached {statuses:?}: {job_now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (label, start, end) of each interval in a JSON list, the label under `field`.
fn triples<'a>(list: &'a Value, field: &'a str) -> impl Iterator<Item = (String, i64, i64)> + 'a {
    list.as_array().unwrap().iter().map(move |interval| {
        let at = |key: &str| interval[key].as_i64().unwrap();
        (interval[field].as_str().unwrap().to_owned(), at("startMs"), at("endMs"))
    })
}

/// The (label, start, end) of every interval in the stored report, sorted.
fn stored_intervals(report: &Value) -> Vec<(String, i64, i64)> {
    let mut intervals: Vec<_> = report["objects"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|object| {
            triples(&object["emotionIntervals"]["nodes"], "emotion")
                .chain(triples(&object["behaviourIntervals"]["nodes"], "behaviour"))
        })
        .collect();
    intervals.sort();
    intervals
}

/// The (label, start, end) of every interval the events carried, sorted.
fn live_intervals(events: &[&Value]) -> Vec<(String, i64, i64)> {
    let mut intervals: Vec<_> = events
        .iter()
        .flat_map(|event| {
            triples(&event["newEmotionIntervals"], "emotion")
                .chain(triples(&event["newBehaviourIntervals"], "behaviour"))
        })
        .collect();
    intervals.sort();
    intervals
}

#[tokio::test]
async fn a_run_streams_rising_progress_and_intervals_and_the_report_matches() {
    let (app, world, token) = app().await;
    let session = session_with(&app, &token, &world, "vtest.avi").await;
    let job = start(&app, &token, session, json!({ "fps": 4 }), None).await;
    assert_eq!(job["status"], "QUEUED");
    let job_id = job["id"].as_str().unwrap();

    let messages = app.node_subscribe(Some(&token), PROGRESS, json!({ "id": job_id })).await;
    assert_eq!(messages.last().unwrap()["complete"], true, "the subscription completes: {messages:?}");
    let events: Vec<&Value> =
        messages.iter().filter_map(|m| m.get("next")).map(|next| &next["data"]["analysisProgress"]).collect();
    assert!(events.len() >= 4, "current state, progress and the end: {events:?}");
    let percents: Vec<f64> = events.iter().map(|e| e["job"]["percent"].as_f64().unwrap()).collect();
    assert!(percents.windows(2).all(|pair| pair[0] <= pair[1]), "percent never goes back: {percents:?}");
    let last = events.last().unwrap();
    assert_eq!((last["kind"].as_str(), last["job"]["status"].as_str()), (Some("DONE"), Some("DONE")));
    assert_eq!(last["job"]["percent"], 100.0);
    assert!(percents.iter().any(|p| *p > 0.0 && *p < 100.0), "intermediate progress arrived: {percents:?}");
    assert!(events.iter().any(|e| e["etaSeconds"].as_f64().is_some()), "an ETA while running");
    let before_end = &events[..events.len() - 1];
    assert!(
        before_end.iter().any(|e| !e["newBehaviourIntervals"].as_array().unwrap().is_empty()),
        "intervals arrive before the job completes"
    );

    let report = app.graphql(Some(&token), REPORT, json!({ "id": global_id("Session", session) })).await;
    let report = &report.data()["session"];
    assert_eq!(report["status"], "DONE");
    assert_eq!(report["latestJob"]["status"], "DONE");
    let stored = stored_intervals(report);
    let live = live_intervals(&events);
    assert!(!stored.is_empty());
    let mut unmatched = live.clone();
    for interval in &stored {
        let position = unmatched.iter().position(|live| live == interval);
        assert!(position.is_some(), "stored interval {interval:?} was streamed live");
        unmatched.remove(position.unwrap());
    }
    // Live intervals the report lacks can only come from tracks too short to count as people.
    assert!(
        unmatched.len() * 10 <= live.len(),
        "{} of {} live intervals are not in the report",
        unmatched.len(),
        live.len()
    );

    // A second run replaces the results instead of adding to them.
    let again = start(&app, &token, session, json!({ "fps": 4 }), None).await;
    wait_for(&app, &token, again["id"].as_str().unwrap(), &["DONE"]).await;
    let rerun = app.graphql(Some(&token), REPORT, json!({ "id": global_id("Session", session) })).await;
    assert_eq!(stored_intervals(&rerun.data()["session"]), stored, "same results, no duplicates");
}

#[tokio::test]
async fn watchers_of_one_job_each_see_every_event_to_the_end() {
    // Identical subscriptions of one user share one execution on the gateway (and a guardian's
    // has one of its own): every watcher still gets each event once, in order, then the end.
    let (app, world, token) = app().await;
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let session = session_with(&app, &token, &world, "vtest.avi").await;
    let job = start(&app, &token, session, json!({ "fps": 4 }), None).await;
    let job_id = job["id"].as_str().unwrap().to_owned();
    let mut watchers = Vec::new();
    for n in 0..9 {
        let (address, job_id) = (app.address.clone(), job_id.clone());
        let (token, protocol) = match n {
            0 => (guardian.clone(), Protocol::Legacy),
            n if n % 2 == 0 => (token.clone(), Protocol::Legacy),
            _ => (token.clone(), Protocol::TransportWs),
        };
        watchers.push(tokio::spawn(async move {
            let mut socket = GraphQLSocket::connect(&address, protocol, Some(&token)).await.unwrap();
            socket.subscribe("w", PROGRESS, json!({ "id": job_id })).await.unwrap();
            socket.collect().await
        }));
    }
    let mut sequences = Vec::new();
    for watcher in watchers {
        let events = watcher.await.unwrap();
        assert_eq!(events.last(), Some(&Event::Complete), "{events:?}");
        let stamps: Vec<(String, String)> = events[..events.len() - 1]
            .iter()
            .map(|event| {
                let Event::Next(payload) = event else { panic!("{events:?}") };
                let event = &payload["data"]["analysisProgress"];
                (event["kind"].as_str().unwrap().to_owned(), event["emittedAt"].as_str().unwrap().to_owned())
            })
            .collect();
        assert_eq!(stamps.last().unwrap().0, "DONE", "{stamps:?}");
        sequences.push(stamps);
    }
    // After its first message (the job's state when it joined), each watcher saw exactly the
    // events the others saw from then on.
    let longest = sequences.iter().max_by_key(|s| s.len()).unwrap().clone();
    for sequence in &sequences {
        let joined_at = longest.len() - (sequence.len() - 1);
        assert_eq!(&sequence[1..], &longest[joined_at..], "a watcher missed or repeated an event");
    }
}

#[tokio::test]
async fn idempotency_keys_cancel_and_retry() {
    let (app, world, token) = app().await;
    let session = session_with(&app, &token, &world, "vtest.avi").await;
    let first = start(&app, &token, session, json!({ "fps": 10 }), Some("click-1")).await;
    let same = start(&app, &token, session, json!({ "fps": 10 }), Some("click-1")).await;
    assert_eq!(first["id"], same["id"], "same key, same job");
    let while_running = start(&app, &token, session, Value::Null, None).await;
    assert_eq!(first["id"], while_running["id"], "one analysis of a video at a time");
    let job = first["id"].as_str().unwrap().to_owned();

    // Cancel while it runs; the worker must stop within a second or two.
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    socket.subscribe("1", PROGRESS, json!({ "id": job })).await.unwrap();
    loop {
        match socket.next().await.1 {
            Event::Next(payload) if payload["data"]["analysisProgress"]["job"]["framesDone"].as_i64() > Some(0) => {
                break;
            }
            Event::Next(_) => {}
            other => panic!("the job should be running: {other:?}"),
        }
    }
    let cancel = "mutation($id: ID!) { cancelAnalysis(jobId: $id) { status } }";
    let cancelled_at = Instant::now();
    let response = app.graphql(Some(&token), cancel, json!({ "id": job })).await;
    assert_eq!(response.data()["cancelAnalysis"]["status"], "CANCELLED");
    let events = socket.collect().await;
    let Some(Event::Next(last)) = events.iter().rev().find(|e| matches!(e, Event::Next(_))) else {
        panic!("{events:?}")
    };
    assert_eq!(last["data"]["analysisProgress"]["job"]["status"], "CANCELLED");
    assert_eq!(events.last(), Some(&Event::Complete));
    // The worker is free again once it stopped: a new job starts at once.
    let other_session = session_with(&app, &token, &world, "Megamind.avi").await;
    let next = start(&app, &token, other_session, Value::Null, None).await;
    wait_for(&app, &token, next["id"].as_str().unwrap(), &["RUNNING", "DONE"]).await;
    assert!(cancelled_at.elapsed() < Duration::from_secs(5), "the worker stopped the cancelled analysis quickly");
    let session_status = "query($id: ID!) { session(id: $id) { status } }";
    let status = app.graphql(Some(&token), session_status, json!({ "id": global_id("Session", session) })).await;
    assert_eq!(status.data()["session"]["status"], "READY", "no results yet, uploadable and startable again");
    assert_eq!(
        app.graphql(Some(&token), cancel, json!({ "id": job })).await.data()["cancelAnalysis"]["status"],
        "CANCELLED",
        "cancelling again is harmless"
    );

    // Retry runs it again with fresh attempts, to the end.
    let retry = "mutation($id: ID!) { retryAnalysis(jobId: $id) { id status attempts } }";
    let retried = app.graphql(Some(&token), retry, json!({ "id": job })).await;
    assert_eq!(retried.data()["retryAnalysis"]["status"], "QUEUED");
    assert_eq!(retried.data()["retryAnalysis"]["id"], job.as_str());
    let done = wait_for(&app, &token, &job, &["DONE", "FAILED"]).await;
    assert_eq!(done["status"], "DONE", "{done}");
    assert_eq!(done["attempts"], 1);
    let again = app.graphql(Some(&token), retry, json!({ "id": job })).await;
    assert_eq!(again.error_code(), Some("BAD_USER_INPUT"), "a DONE job is not retried");
    let late_cancel = app.graphql(Some(&token), cancel, json!({ "id": job })).await;
    assert_eq!(late_cancel.error_code(), Some("BAD_USER_INPUT"));

    // Options are checked.
    let bad = app
        .graphql(Some(&token), START, json!({ "s": global_id("Session", session), "o": { "fps": 0 }, "k": null }))
        .await;
    assert_eq!(bad.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn a_broken_video_fails_with_a_reason_and_the_worker_goes_on() {
    let (app, world, token) = app().await;
    let broken = session_with(&app, &token, &world, "Megamind.avi").await;
    // The stored file breaks after it was accepted (a disk error, a bad copy): keep the
    // header, cut the rest.
    let blob = app.settings.data_dir.join("blobs");
    let file = walk(&blob).into_iter().next().expect("the stored video");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 20]).unwrap();
    let job = start(&app, &token, broken, Value::Null, None).await;
    let job_id = job["id"].as_str().unwrap();
    let messages = app.node_subscribe(Some(&token), PROGRESS, json!({ "id": job_id })).await;
    let last = messages.iter().rev().find_map(|m| m.get("next")).expect("events");
    let last = &last["data"]["analysisProgress"]["job"];
    assert_eq!(last["status"], "FAILED", "{messages:?}");
    let reason = last["error"].as_str().unwrap();
    assert!(reason.starts_with("the video could not be analysed"), "a reason a counsellor can read: {reason}");
    assert_eq!(last["attempts"], 1, "a broken video is not retried");

    let good = session_with(&app, &token, &world, "Megamind.avi").await;
    let next = start(&app, &token, good, Value::Null, None).await;
    assert_eq!(wait_for(&app, &token, next["id"].as_str().unwrap(), &["DONE", "FAILED"]).await["status"], "DONE");
}

/// The error code a refused subscription got (as an `error` message, or a `next` carrying only
/// errors), asserting no data came with it.
fn refusal_code(messages: &[Value]) -> Option<&str> {
    assert!(messages.iter().all(|m| m["next"]["data"].is_null()), "no data leaks: {messages:?}");
    messages.iter().find_map(|m| {
        let errors = if m["error"].is_array() { &m["error"] } else { &m["next"]["errors"] };
        errors[0]["extensions"]["code"].as_str()
    })
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[tokio::test]
async fn subscriptions_are_refused_without_rights_and_speak_both_protocols() {
    let (app, world, _) = app().await;
    let job = global_id("AnalysisJob", world.own_analysed.job);

    // No token, a forged token: the connection itself is refused, on both protocols.
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        assert!(GraphQLSocket::connect(&app.address, protocol, None).await.is_err(), "{protocol:?}");
        assert!(GraphQLSocket::connect(&app.address, protocol, Some("not.a.token")).await.is_err(), "{protocol:?}");
    }
    let refused = app.node_subscribe(None, PROGRESS, json!({ "id": job })).await;
    assert_eq!(refused.last().unwrap()["error"]["code"], 4403, "{refused:?}");

    // Someone else's child: NOT_FOUND, as for queries; a job id that doesn't exist too.
    let other = app.login(OTHER_COUNSELLOR, fixtures::PASSWORD).await;
    let foreign = app.node_subscribe(Some(&other), PROGRESS, json!({ "id": job })).await;
    assert_eq!(refusal_code(&foreign), Some("NOT_FOUND"), "{foreign:?}");
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::Legacy, Some(&other)).await.unwrap();
    socket.subscribe("a", PROGRESS, json!({ "id": job })).await.unwrap();
    let events = socket.collect().await;
    assert!(matches!(&events[0], Event::Error(_) | Event::Next(_)), "{events:?}");
    assert!(events.iter().all(|e| !matches!(e, Event::Next(p) if !p["data"].is_null())), "no data leaks: {events:?}");
    let children = "subscription($c: ID!) { sessionEvents(childId: $c) { kind } }";
    let dashboard = app.node_subscribe(Some(&other), children, json!({ "c": global_id("Child", world.own) })).await;
    assert_eq!(refusal_code(&dashboard), Some("NOT_FOUND"), "{dashboard:?}");

    // A guardian may follow their own child's analysis (read rights), over the legacy
    // protocol: the current state of a finished job, then complete.
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::Legacy, Some(&guardian)).await.unwrap();
    socket.subscribe("1", PROGRESS, json!({ "id": job })).await.unwrap();
    let events = socket.collect().await;
    assert_eq!(events.len(), 2, "{events:?}");
    let Event::Next(state) = &events[0] else { panic!("{events:?}") };
    assert_eq!(state["data"]["analysisProgress"]["job"]["status"], "DONE");
    assert_eq!(uuid_of(state["data"]["analysisProgress"]["job"]["id"].as_str().unwrap()), world.own_analysed.job);
    assert_eq!(events[1], Event::Complete);
}

#[tokio::test]
async fn dashboards_see_their_childs_sessions_and_idle_sockets_are_kept_alive() {
    let app = spawn_app_with(false, |settings| {
        settings.worker_poll_ms = 100;
        settings.ws_keepalive_secs = 1;
    })
    .await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let mut dashboard = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    let query = "subscription($c: ID!) { sessionEvents(childId: $c) { kind session { id status } job { status } } }";
    dashboard.subscribe("d", query, json!({ "c": global_id("Child", world.own) })).await.unwrap();
    let quiet_child = fixtures::child(&app.db, world.org_a, "Quiet Child").await;
    fixtures::assign_counsellor(&app.db, quiet_child, world.counsellor).await;
    let mut legacy = GraphQLSocket::connect(&app.address, Protocol::Legacy, Some(&token)).await.unwrap();
    legacy.subscribe("s", query, json!({ "c": global_id("Child", quiet_child) })).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let session = session_with(&app, &token, &world, "Megamind.avi").await;
    let job = start(&app, &token, session, Value::Null, None).await;
    let mut kinds = Vec::new();
    while kinds.last().map(String::as_str) != Some("DONE") {
        let (id, event) = tokio::time::timeout(Duration::from_secs(60), dashboard.next()).await.unwrap();
        assert_eq!(id.as_deref(), Some("d"));
        let Event::Next(payload) = event else { panic!("{event:?}") };
        let event = &payload["data"]["sessionEvents"];
        assert_eq!(uuid_of(event["session"]["id"].as_str().unwrap()), session);
        kinds.push(event["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(kinds.first().map(String::as_str), Some("QUEUED"), "{kinds:?}");
    assert!(kinds.contains(&"STARTED".to_owned()), "{kinds:?}");
    assert!(job["id"].is_string());

    // The other child's dashboard heard nothing, but its idle socket got keep-alives.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), legacy.next()).await;
    assert!(quiet.is_err(), "no events for another child's dashboard: {quiet:?}");
    assert!(legacy.keepalives >= 2, "legacy keep-alives: {}", legacy.keepalives);
}

#[tokio::test]
async fn shutting_down_closes_subscriptions_cleanly() {
    let (mut app, world, token) = app().await;
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    let query = "subscription($c: ID!) { sessionEvents(childId: $c) { kind } }";
    socket.subscribe("d", query, json!({ "c": global_id("Child", world.own) })).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.shut_down();
    let (_, event) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("closed promptly");
    assert_eq!(event, Event::Closed(Some((1001, "server shutting down".into()))));
}

const FACES: &str = "query($id: ID!) { session(id: $id) { timelineUrl objects(first: 100) { nodes { label
    faceQuality { samples faceSamples usableFaceSamples tooSmall uncertain blurred turnedAway expression mainProblem }
    emotionIntervals(first: 100) { nodes { startMs endMs samples } } } } } }";

#[tokio::test]
async fn a_face_never_readable_says_why_and_intervals_say_what_they_rest_on() {
    let (app, world, token) = app().await;
    let session = session_with(&app, &token, &world, "Megamind.avi").await;
    let job = start(&app, &token, session, json!({ "fps": 4 }), None).await;
    let job_id = job["id"].as_str().unwrap();
    let messages = app.node_subscribe(Some(&token), PROGRESS_SAMPLES, json!({ "id": job_id })).await;
    wait_for(&app, &token, job_id, &["DONE"]).await;
    let span_and_samples = |interval: &Value| {
        let at = |key: &str| interval[key].as_i64().unwrap();
        (at("startMs"), at("endMs"), at("samples"))
    };
    let mut live: Vec<(i64, i64, i64)> = messages
        .iter()
        .filter_map(|m| m.get("next"))
        .flat_map(|next| next["data"]["analysisProgress"]["newEmotionIntervals"].as_array().unwrap().clone())
        .map(|interval| span_and_samples(&interval))
        .collect();

    let report = app.graphql(Some(&token), FACES, json!({ "id": global_id("Session", session) })).await;
    let people = report.data()["session"]["objects"]["nodes"].as_array().unwrap().clone();
    // The man out of focus behind the woman: his face is seen but never read.
    let unreadable: Vec<&Value> =
        people.iter().filter(|person| person["faceQuality"]["expression"] == "FACE_UNUSABLE").collect();
    assert_eq!(unreadable.len(), 1, "{people:#?}");
    let background = unreadable[0];
    assert_eq!(background["faceQuality"]["mainProblem"], "BLURRED", "{background}");
    assert_eq!(background["faceQuality"]["usableFaceSamples"], 0);
    assert!(background["faceQuality"]["blurred"].as_i64() >= Some(3), "{background}");
    assert!(background["emotionIntervals"]["nodes"].as_array().unwrap().is_empty());

    let mut stored_samples = 0;
    for person in &people {
        let quality = &person["faceQuality"];
        let count = |field: &str| quality[field].as_i64().unwrap();
        assert!(count("faceSamples") <= count("samples") && count("usableFaceSamples") <= count("faceSamples"));
        let below: i64 = ["tooSmall", "uncertain", "blurred", "turnedAway"].iter().map(|field| count(field)).sum();
        assert_eq!(count("usableFaceSamples") + below, count("faceSamples"), "{quality}");
        // Each interval rests on usable faces only, at most one per sample of its span.
        let mut voted = 0;
        for interval in person["emotionIntervals"]["nodes"].as_array().unwrap() {
            let samples = interval["samples"].as_i64().unwrap();
            let span = interval["endMs"].as_i64().unwrap() - interval["startMs"].as_i64().unwrap();
            assert!(samples >= 1 && samples <= span / 250 + 1, "{interval}");
            voted += samples;
            // Streamed live with the same samples (live ones may also be of tracks too short
            // to count as people).
            let streamed = live.iter().position(|l| *l == span_and_samples(interval));
            live.remove(streamed.unwrap_or_else(|| panic!("{interval} was not streamed live")));
        }
        assert!(voted <= count("usableFaceSamples"), "{person}");
        stored_samples += voted;
    }
    assert!(stored_samples > 0);

    // The timeline picture says so in the empty lane rather than leaving it blank.
    let link = report.data()["session"]["timelineUrl"].as_str().unwrap().to_owned();
    let svg = app.client.get(&link).send().await.unwrap().text().await.unwrap();
    assert_eq!(svg.matches("face seen but never clear enough to read an expression").count(), 1, "{svg}");
}

const PROGRESS_SAMPLES: &str = "subscription($id: ID!) { analysisProgress(jobId: $id) {
    newEmotionIntervals { startMs endMs samples } } }";
