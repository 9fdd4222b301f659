//! The job queue's guarantees straight against the database (SQLite here, PostgreSQL in the
//! second pass): concurrent claimers never share a job, an expired lease is taken over and
//! the old owner's writes are refused, retries back off, and a job that keeps losing its
//! worker ends FAILED.

use std::{collections::HashSet, sync::Arc, time::Duration};

use entity::enums::{JobStage, JobStatus, SessionStatus};
use imind_api::{
    LocalBus,
    queue::{JobOptions, ProgressUpdate, Queue, QueueSettings},
};
use imind_tests::{TestApp, fixtures::World, spawn_app_with};
use sea_orm::DatabaseConnection;

/// A gateway without its embedded worker: these tests are the only claimers.
async fn spawn_app() -> TestApp {
    spawn_app_with(false, |settings| settings.embedded_worker = false).await
}

fn settings(lease_ms: u64, max_attempts: i32) -> QueueSettings {
    QueueSettings { lease: Duration::from_millis(lease_ms), max_attempts, retry_base: Duration::from_secs(60) }
}

/// The queue over `db`, announcing to nobody.
fn queue(db: &DatabaseConnection, settings: QueueSettings) -> Queue {
    Queue::new(db.clone(), Arc::new(LocalBus::new()), settings)
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let settings = settings(30_000, 3);
    let sessions = [world.own_analysed.session, world.sibling_analysed.session, world.foreign_analysed.session];
    let mut queued = HashSet::new();
    let jobs = queue(&app.db, settings);
    for session in sessions {
        queued.insert(jobs.enqueue(session, &JobOptions::default(), None, None).await.unwrap().0.id);
    }
    // Twelve claimers race for three jobs, each on its own connection.
    let mut claimers = Vec::new();
    for n in 0..12 {
        let db = imind_api::connect_database(&app.settings.effective_database_url(), 1, None).await.unwrap();
        let claimer = queue(&db, settings);
        claimers.push(tokio::spawn(async move { claimer.claim(&format!("worker-{n}")).await.unwrap() }));
    }
    let mut claimed = Vec::new();
    for claimer in claimers {
        if let Some(job) = claimer.await.unwrap() {
            claimed.push(job);
        }
    }
    let ids: HashSet<_> = claimed.iter().map(|job| job.id).collect();
    assert_eq!(claimed.len(), 3, "every job claimed exactly once: {claimed:?}");
    assert_eq!(ids, queued);
    assert!(claimed.iter().all(|job| job.status == JobStatus::Running && job.attempts == 1));
    assert!(jobs.claim("late").await.unwrap().is_none());
}

#[tokio::test]
async fn expired_leases_are_taken_over_and_the_old_owner_is_shut_out() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let jobs = queue(&app.db, settings(300, 2));
    let session = world.own_analysed.session;
    let (job, created) = jobs.enqueue(session, &JobOptions::default(), Some("key".into()), None).await.unwrap();
    assert!(created);
    let (again, created) = jobs.enqueue(session, &JobOptions::default(), Some("key".into()), None).await.unwrap();
    assert!(!created && again.id == job.id, "same key, same job");

    let first = jobs.claim("a").await.unwrap().expect("claimable");
    let progress = ProgressUpdate { stage: JobStage::Analysing, percent: 10.0, frames_done: 1, frames_total: 10 };
    assert!(jobs.heartbeat(job.id, "a", Some(&progress)).await.unwrap().is_some());
    assert!(jobs.claim("b").await.unwrap().is_none(), "a live lease is respected");

    // "a" stops heartbeating (it died): after the lease, "b" takes over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = jobs.claim("b").await.unwrap().expect("expired lease");
    assert_eq!((second.id, second.attempts, second.lease_owner.as_deref()), (first.id, 2, Some("b")));
    assert!(jobs.heartbeat(job.id, "a", None).await.unwrap().is_none(), "a is shut out");
    assert!(jobs.fail(&first, "a", "late", true).await.unwrap().is_none());

    // "b" dies too, on the last attempt: the job ends FAILED instead of running forever.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(jobs.claim("c").await.unwrap().is_none(), "no attempts left");
    let failed = jobs.fail_abandoned().await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, JobStatus::Failed);
    assert!(failed[0].error.as_deref().unwrap().contains("stopped responding"));
    let session = entity::session::Entity::find_by_id(session);
    use sea_orm::EntityTrait;
    assert_eq!(session.one(&app.db).await.unwrap().unwrap().status, SessionStatus::Failed);
}

#[tokio::test]
async fn failures_retry_after_a_back_off_then_fail() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let settings = settings(30_000, 2);
    let jobs = queue(&app.db, settings);
    let (job, _) = jobs.enqueue(world.own_analysed.session, &JobOptions::default(), None, None).await.unwrap();
    let claimed = jobs.claim("a").await.unwrap().unwrap();
    let retried = jobs.fail(&claimed, "a", "storage unreachable", true).await.unwrap().unwrap();
    assert_eq!(retried.status, JobStatus::Queued);
    assert_eq!(retried.error.as_deref(), Some("storage unreachable"));
    assert!(retried.run_after > chrono::Utc::now() + chrono::Duration::seconds(50), "backs off");
    assert!(jobs.claim("a").await.unwrap().is_none(), "not before its time");

    let impatient = queue(&app.db, QueueSettings { retry_base: Duration::ZERO, ..settings });
    let reset = impatient.fail(&claimed, "a", "x", true).await.unwrap();
    assert!(reset.is_none(), "a queued job is no longer a's to fail");
    // Make it due now (as if the back-off had passed), claim, fail again: attempts are used up.
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let mut due = retried.into_active_model();
    due.run_after = Set(chrono::Utc::now());
    due.update(&app.db).await.unwrap();
    let last = jobs.claim("a").await.unwrap().unwrap();
    assert_eq!(last.attempts, 2);
    let failed = jobs.fail(&last, "a", "storage unreachable", true).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed, "after the maximum, FAILED with the last reason");
    assert_eq!(failed.error.as_deref(), Some("storage unreachable"));
    assert_eq!(job.id, failed.id);
}
