//! The distributed deployment: two gateways and `imind worker` processes on one PostgreSQL and
//! one S3-compatible server. Runs in the PostgreSQL pass of the suite (the SQLite pass has no
//! shared server to scale out on, and says so).

use std::time::{Duration, Instant};

use entity::{analysis_job, behaviour_interval, emotion_interval, tracked_object};
use imind_tests::{
    Store, TestApp, backend_name,
    fixtures::{self, COUNSELLOR, World, uuid_of},
    footage, spawn_app_with_store,
    worker::WorkerProcess,
    ws::{Event, GraphQLSocket, Protocol},
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, RelationTrait};
use serde_json::json;

use crate::analysis::{PROGRESS, start};

fn postgres() -> bool {
    if backend_name() == "postgres" {
        return true;
    }
    eprintln!("skipped on SQLite: the distributed mode needs PostgreSQL (the PostgreSQL pass runs it)");
    false
}

/// Gateway A and gateway B (no embedded workers) on one database and one S3 server, with a
/// short lease so a dead worker's job is taken over quickly.
async fn cluster() -> (TestApp, TestApp, World, String) {
    let a = spawn_app_with_store(Store::S3, |settings| {
        settings.embedded_worker = false;
        settings.job_lease_secs = 2;
        settings.worker_poll_ms = 200;
        settings.job_retry_base_secs = 0;
    })
    .await;
    let b = a.peer(|_| {}).await;
    let world = World::build(&a.db).await;
    let token = b.login(COUNSELLOR, fixtures::PASSWORD).await;
    (a, b, world, token)
}

async fn uploaded_session(app: &TestApp, token: &str, world: &World, clip: &str) -> uuid::Uuid {
    let session = app.create_session(token, world.own, clip).await;
    let uploaded = app.upload_video(token, session, &footage(clip)).await;
    assert_eq!(uploaded["data"]["uploadSessionVideo"]["status"], "READY", "{uploaded}");
    session
}

/// Follows a job until it is running with some frames done (as seen from `socket`).
async fn until_running(socket: &mut GraphQLSocket, worker: &WorkerProcess) {
    loop {
        let (_, event) = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no progress; worker log:\n{}", worker.log()));
        match event {
            Event::Next(payload) if payload["data"]["analysisProgress"]["job"]["framesDone"].as_i64() > Some(0) => {
                return;
            }
            Event::Next(_) => {}
            other => panic!("{other:?}; worker log:\n{}", worker.log()),
        }
    }
}

/// (label, start, end, rounded mean confidence) of every stored expression and behaviour
/// interval of a session, straight from the database (all of them, not one page).
async fn stored(app: &TestApp, session: uuid::Uuid) -> Vec<(String, i64, i64, i64)> {
    let confidence = |value: f64| (value * 1e4).round() as i64;
    let emotions = emotion_interval::Entity::find()
        .join(sea_orm::JoinType::InnerJoin, emotion_interval::Relation::Object.def())
        .filter(tracked_object::Column::SessionId.eq(session))
        .all(&app.db)
        .await
        .unwrap();
    let behaviours = behaviour_interval::Entity::find()
        .join(sea_orm::JoinType::InnerJoin, behaviour_interval::Relation::Object.def())
        .filter(tracked_object::Column::SessionId.eq(session))
        .all(&app.db)
        .await
        .unwrap();
    let mut intervals: Vec<_> =
        emotions
            .into_iter()
            .map(|row| (row.emotion.as_str().to_owned(), row.start_ms, row.end_ms, confidence(row.mean_confidence)))
            .chain(behaviours.into_iter().map(|row| {
                (row.behaviour.as_str().to_owned(), row.start_ms, row.end_ms, confidence(row.mean_confidence))
            }))
            .collect();
    intervals.sort();
    intervals
}

#[tokio::test]
async fn a_killed_workers_job_is_finished_by_another_and_seen_on_the_other_gateway() {
    if !postgres() {
        return;
    }
    let (a, b, world, token) = cluster().await;
    let session = uploaded_session(&b, &token, &world, "vtest.avi").await;
    let mut first = WorkerProcess::start(&a.settings);
    let job = start(&b, &token, session, json!({ "fps": 5 }), None).await;
    let job_id = job["id"].as_str().unwrap().to_owned();

    // Subscribed on gateway A; the job was started on B and runs in a worker process.
    let mut socket = GraphQLSocket::connect(&a.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    socket.subscribe("1", PROGRESS, json!({ "id": job_id })).await.unwrap();
    until_running(&mut socket, &first).await;
    let row = analysis_job::Entity::find_by_id(uuid_of(&job_id)).one(&a.db).await.unwrap().unwrap();
    assert!(row.lease_owner.unwrap().contains(&format!("-{}-", first.pid())), "the first worker holds it");

    let second = WorkerProcess::start(&a.settings);
    first.kill();
    let killed_at = Instant::now();
    let events = tokio::time::timeout(Duration::from_secs(120), socket.collect())
        .await
        .unwrap_or_else(|_| panic!("the job never ended; second worker:\n{}", second.log()));
    assert_eq!(events.last(), Some(&Event::Complete), "{events:?}");
    let last = events.iter().rev().find_map(|e| if let Event::Next(p) = e { Some(p.clone()) } else { None }).unwrap();
    let last = &last["data"]["analysisProgress"]["job"];
    assert_eq!(last["status"], "DONE", "{last}\nsecond worker:\n{}", second.log());
    assert_eq!(last["attempts"], 2, "the take-over counts as a second attempt");
    let restarted =
        events.iter().any(|e| matches!(e, Event::Next(p) if p["data"]["analysisProgress"]["kind"] == "STARTED"));
    assert!(restarted, "the second worker's start reached gateway A");
    println!("killed worker's job finished by the other in {:.1} s", killed_at.elapsed().as_secs_f64());

    // An undisturbed run of the same video gives the same results, and there are no duplicates.
    let reference = uploaded_session(&a, &token, &world, "vtest.avi").await;
    let undisturbed = start(&a, &token, reference, json!({ "fps": 5 }), None).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let row = analysis_job::Entity::find_by_id(uuid_of(undisturbed["id"].as_str().unwrap()))
            .one(&a.db)
            .await
            .unwrap()
            .unwrap();
        if row.status.as_str() == "DONE" {
            assert_eq!(row.attempts, 1);
            break;
        }
        assert!(Instant::now() < deadline && row.status.as_str() != "FAILED", "{row:?}\n{}", second.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = stored(&a, session).await;
    assert!(!recovered.is_empty());
    assert_eq!(recovered, stored(&a, reference).await, "same results as an undisturbed run");
    let mut distinct = recovered.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), recovered.len(), "no duplicate intervals");
    let objects =
        tracked_object::Entity::find().filter(tracked_object::Column::SessionId.eq(session)).count(&a.db).await;
    let reference_objects =
        tracked_object::Entity::find().filter(tracked_object::Column::SessionId.eq(reference)).count(&a.db).await;
    assert_eq!(objects.unwrap(), reference_objects.unwrap());
}

#[tokio::test]
async fn sigterm_releases_the_running_job_and_another_worker_takes_it() {
    if !postgres() {
        return;
    }
    let (a, b, world, token) = cluster().await;
    let session = uploaded_session(&a, &token, &world, "vtest.avi").await;
    let mut worker = WorkerProcess::start(&a.settings);
    let job = start(&a, &token, session, json!({ "fps": 5 }), None).await;
    let job_id = job["id"].as_str().unwrap().to_owned();
    let mut socket = GraphQLSocket::connect(&b.address, Protocol::Legacy, Some(&token)).await.unwrap();
    socket.subscribe("1", PROGRESS, json!({ "id": job_id })).await.unwrap();
    until_running(&mut socket, &worker).await;

    let (clean, took) = worker.terminate();
    assert!(clean, "exit status 0 after SIGTERM; log:\n{}", worker.log());
    assert!(took < Duration::from_secs(5), "stopped in {took:?}");
    let row = analysis_job::Entity::find_by_id(uuid_of(&job_id)).one(&a.db).await.unwrap().unwrap();
    assert_eq!(row.status.as_str(), "QUEUED", "released, not left running: {row:?}");
    assert_eq!(row.attempts, 0, "a shutdown does not use up an attempt");
    assert!(row.lease_owner.is_none());
    let queued = loop {
        let (_, event) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("the release event");
        let Event::Next(payload) = event else { panic!("{event:?}") };
        if payload["data"]["analysisProgress"]["kind"] == "QUEUED" {
            break payload;
        }
    };
    assert_eq!(queued["data"]["analysisProgress"]["job"]["status"], "QUEUED");

    let next = WorkerProcess::start(&a.settings);
    let events = tokio::time::timeout(Duration::from_secs(120), socket.collect()).await.expect("the job ends");
    let Some(Event::Next(last)) = events.iter().rev().find(|e| matches!(e, Event::Next(_))) else {
        panic!("{events:?}")
    };
    assert_eq!(last["data"]["analysisProgress"]["job"]["status"], "DONE", "{}", next.log());
    assert_eq!(last["data"]["analysisProgress"]["job"]["attempts"], 1);
}

#[tokio::test]
async fn a_key_revoked_on_one_gateway_is_refused_on_the_other_within_a_second() {
    if !postgres() {
        return;
    }
    let (a, b, _world, _token) = cluster().await;
    let admin = a.login(fixtures::ADMIN, fixtures::PASSWORD).await;
    let (key_id, key) = a.create_api_key(&admin, "REPORTS", None).await;
    let me = "{ me { id } }";
    assert!(b.graphql(Some(&key), me, json!({})).await.error_code().is_none(), "B knows the key");
    let mut socket = GraphQLSocket::connect(&b.address, Protocol::TransportWs, Some(&key)).await.unwrap();

    let revoked =
        a.graphql(Some(&admin), "mutation($id: ID!) { revokeApiKey(id: $id) { id } }", json!({ "id": key_id })).await;
    revoked.data();
    let at = Instant::now();
    let refused_after = loop {
        if b.graphql(Some(&key), me, json!({})).await.error_code() == Some("UNAUTHENTICATED") {
            break at.elapsed();
        }
        assert!(at.elapsed() < Duration::from_secs(5), "B still serves the revoked key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(refused_after <= Duration::from_secs(1), "refused on B after {refused_after:?}");
    // B's open socket refuses the key's next operation too.
    socket.subscribe("1", me, json!({})).await.unwrap();
    let (_, event) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("an answer");
    assert!(matches!(event, Event::Closed(Some((4403, _)))), "{event:?}");
}
