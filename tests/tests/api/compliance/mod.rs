//! Children's data as a clinic must handle it: the access audit log, consent, retention,
//! exports, complete erasure, encryption at rest on S3.

mod audit;
mod consent;
mod encryption;
mod erasure;
pub mod exports;
mod retention;

use std::time::{Duration, Instant};

use entity::{analysis_job, enums::JobStatus};
use imind_tests::{Store, TestApp, fixtures::World, footage, spawn_app_with_store};
use sea_orm::EntityTrait;
use uuid::Uuid;

/// A gateway with its embedded worker polling often, and the two-organisation world.
async fn app_on(store: Store) -> (TestApp, World) {
    let app = spawn_app_with_store(store, |settings| settings.worker_poll_ms = 100).await;
    let world = World::build(&app.db).await;
    (app, world)
}

/// A new session of `child` with the short clip uploaded through GraphQL.
async fn session_with_video(app: &TestApp, token: &str, child: Uuid) -> Uuid {
    let session = app.create_session(token, child, "Play session").await;
    let uploaded = app.upload_video(token, session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(uploaded["data"]["uploadSessionVideo"]["status"], "READY", "{uploaded}");
    session
}

/// Waits (reading the database, not the API, so no read is audited) until the job ends.
async fn wait_until_ended(app: &TestApp, job: Uuid) -> analysis_job::Model {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let row = analysis_job::Entity::find_by_id(job).one(&app.db).await.unwrap().expect("the job exists");
        if matches!(row.status, JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled) {
            return row;
        }
        assert!(Instant::now() < deadline, "job {job} is still {:?}", row.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
