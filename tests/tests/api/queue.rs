//! The job queue's guarantees straight against the database (SQLite here, PostgreSQL in the
//! second pass): concurrent claimers never share a job, an expired lease is taken over and
//! the old owner's writes are refused, retries back off, and a job that keeps losing its
//! worker ends FAILED.

use std::{collections::HashSet, time::Duration};

use entity::enums::{JobStatus, SessionStatus};
use imind_api::jobs::queue::{self, ProgressUpdate, QueueSettings};
use imind_tests::{TestApp, fixtures::World, spawn_app_with};

/// A gateway without its embedded worker: these tests are the only claimers.
async fn spawn_app() -> TestApp {
    spawn_app_with(false, |settings| settings.embedded_worker = false).await
}

fn settings(lease_ms: u64, max_attempts: i32) -> QueueSettings {
    QueueSettings { lease: Duration::from_millis(lease_ms), max_attempts, retry_base: Duration::from_secs(60) }
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let settings = settings(30_000, 3);
    let sessions = [world.own_analysed.session, world.sibling_analysed.session, world.foreign_analysed.session];
    let mut queued = HashSet::new();
    for session in sessions {
        queued.insert(queue::enqueue(&app.db, session, None, None, &settings).await.unwrap().0.id);
    }
    // Twelve claimers race for three jobs, each on its own connection.
    let mut claimers = Vec::new();
    for n in 0..12 {
        let db = imind_api::db::connect(&app.settings.effective_database_url(), 1, None).await.unwrap();
        claimers.push(tokio::spawn(async move { queue::claim(&db, &format!("worker-{n}"), &settings).await.unwrap() }));
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
    assert!(queue::claim(&app.db, "late", &settings).await.unwrap().is_none());
}

#[tokio::test]
async fn expired_leases_are_taken_over_and_the_old_owner_is_shut_out() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let settings = settings(300, 2);
    let session = world.own_analysed.session;
    let (job, created) = queue::enqueue(&app.db, session, None, Some("key".into()), &settings).await.unwrap();
    assert!(created);
    let (again, created) = queue::enqueue(&app.db, session, None, Some("key".into()), &settings).await.unwrap();
    assert!(!created && again.id == job.id, "same key, same job");

    let first = queue::claim(&app.db, "a", &settings).await.unwrap().expect("claimable");
    let progress = ProgressUpdate { stage: "analysing".into(), percent: 10.0, frames_done: 1, frames_total: 10 };
    assert!(queue::heartbeat(&app.db, job.id, "a", Some(&progress), &settings).await.unwrap().is_some());
    assert!(queue::claim(&app.db, "b", &settings).await.unwrap().is_none(), "a live lease is respected");

    // "a" stops heartbeating (it died): after the lease, "b" takes over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = queue::claim(&app.db, "b", &settings).await.unwrap().expect("expired lease");
    assert_eq!((second.id, second.attempts, second.lease_owner.as_deref()), (first.id, 2, Some("b")));
    assert!(queue::heartbeat(&app.db, job.id, "a", None, &settings).await.unwrap().is_none(), "a is shut out");
    assert!(queue::fail(&app.db, &first, "a", "late", true, &settings).await.unwrap().is_none());

    // "b" dies too, on the last attempt: the job ends FAILED instead of running forever.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(queue::claim(&app.db, "c", &settings).await.unwrap().is_none(), "no attempts left");
    let failed = queue::fail_abandoned(&app.db).await.unwrap();
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
    let (job, _) = queue::enqueue(&app.db, world.own_analysed.session, None, None, &settings).await.unwrap();
    let claimed = queue::claim(&app.db, "a", &settings).await.unwrap().unwrap();
    let retried = queue::fail(&app.db, &claimed, "a", "storage unreachable", true, &settings).await.unwrap().unwrap();
    assert_eq!(retried.status, JobStatus::Queued);
    assert_eq!(retried.error.as_deref(), Some("storage unreachable"));
    assert!(retried.run_after > chrono::Utc::now() + chrono::Duration::seconds(50), "backs off");
    assert!(queue::claim(&app.db, "a", &settings).await.unwrap().is_none(), "not before its time");

    let impatient = QueueSettings { retry_base: Duration::ZERO, ..settings };
    let reset = queue::fail(&app.db, &claimed, "a", "x", true, &impatient).await.unwrap();
    assert!(reset.is_none(), "a queued job is no longer a's to fail");
    // Make it due now (as if the back-off had passed), claim, fail again: attempts are used up.
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let mut due = retried.into_active_model();
    due.run_after = Set(chrono::Utc::now());
    due.update(&app.db).await.unwrap();
    let last = queue::claim(&app.db, "a", &settings).await.unwrap().unwrap();
    assert_eq!(last.attempts, 2);
    let failed = queue::fail(&app.db, &last, "a", "storage unreachable", true, &settings).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Failed, "after the maximum, FAILED with the last reason");
    assert_eq!(failed.error.as_deref(), Some("storage unreachable"));
    assert_eq!(job.id, failed.id);
}
