//! The worker pool: `worker_concurrency` slots, each claiming one job at a time from the queue,
//! fetching its video, running the inference engine on a blocking thread, and meanwhile
//! publishing progress and newly final intervals (every 250 ms) and heartbeating with the
//! latest progress (every 500 ms, which also notices a cancellation). The engine's models are
//! loaded on a slot's first job and kept.
//!
//! Shutdown (SIGTERM): slots stop claiming; a running analysis is stopped and its job released
//! back to the queue without counting the attempt, so another worker starts it again at once.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError, TryLockError},
    time::Duration,
};

use entity::{analysis_job, session};
use imind_inference::{
    AnalysisError, AnalysisOptions, AnalysisResult, AnalysisSink, Engine, Progress, RuntimeOptions, analyze,
    cancel::CancellationToken as AnalysisCancel, labels, timeline::Interval,
};
use sea_orm::{DatabaseConnection, EntityTrait, TransactionTrait};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    bus::EventBus,
    events::{JobEvent, JobEventKind, LiveBehaviourInterval, LiveEmotionInterval},
    queue::{self, ProgressUpdate, QueueSettings},
    results,
};
use crate::{blob::BlobStore, config::Settings};

/// What workers need; the gateway's state has all of it.
#[derive(Clone)]
pub struct WorkerContext {
    pub db: DatabaseConnection,
    pub blobs: Arc<dyn BlobStore>,
    pub bus: Arc<dyn EventBus>,
    pub settings: Arc<Settings>,
}

const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// Also the database progress-write rate: at most two per second per job.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// Starts the pool; the handle finishes once every slot has stopped after `shutdown`.
pub fn spawn(context: WorkerContext, shutdown: CancellationToken) -> JoinHandle<()> {
    let concurrency = context.settings.worker_concurrency.max(1);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let instance = &Uuid::new_v4().simple().to_string()[..8];
    let slots: Vec<JoinHandle<()>> = (0..concurrency)
        .map(|slot| {
            let name = format!("{host}-{}-{instance}-{slot}", std::process::id());
            tokio::spawn(run_slot(context.clone(), name, shutdown.clone()))
        })
        .collect();
    tokio::spawn(async move {
        for slot in slots {
            let _ = slot.await;
        }
        tracing::info!("workers stopped");
    })
}

async fn run_slot(context: WorkerContext, name: String, shutdown: CancellationToken) {
    let settings = QueueSettings::from(context.settings.as_ref());
    let poll = Duration::from_millis(context.settings.worker_poll_ms.max(10));
    let mut wake = context.bus.subscribe();
    let mut engine: Option<Engine> = None;
    // Abandoned jobs can only appear as leases run out: look for them twice per lease.
    let sweep_every = (settings.lease / 2).max(Duration::from_secs(1));
    let mut last_sweep: Option<tokio::time::Instant> = None;
    tracing::info!(worker = %name, "worker ready");
    while !shutdown.is_cancelled() {
        if last_sweep.is_none_or(|at| at.elapsed() >= sweep_every) {
            last_sweep = Some(tokio::time::Instant::now());
            match queue::fail_abandoned(&context.db).await {
                Ok(failed) => {
                    for job in failed {
                        tracing::warn!(job = %job.id, "job failed: its worker stopped responding on every attempt");
                        publish_state(context.bus.as_ref(), &context.db, job).await;
                    }
                }
                Err(error) => tracing::error!(error = %error, "checking for abandoned jobs"),
            }
        }
        match queue::claim(&context.db, &name, &settings).await {
            Ok(Some(job)) => {
                tracing::info!(worker = %name, job = %job.id, attempt = job.attempts, "claimed a job");
                engine = run_job(&context, &name, job, engine, &shutdown).await;
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::error!(worker = %name, error = %error, "claiming a job"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(poll) => {}
            () = queued_event(&mut wake) => {}
        }
    }
}

/// Resolves when a job is queued somewhere (or events were missed): time to try a claim.
async fn queued_event(events: &mut tokio::sync::broadcast::Receiver<Arc<JobEvent>>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(event) if event.kind == JobEventKind::Queued => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// Publishes a job's new state. Called inside the transaction that made the change when a
/// worker could otherwise act on the change first (a QUEUED announced after its STARTED would
/// tell dashboards the wrong thing): SQLite's write lock, or PostgreSQL's visibility of the
/// row at commit, holds workers back until the event is out.
pub async fn publish_state(bus: &dyn EventBus, db: &impl sea_orm::ConnectionTrait, job: analysis_job::Model) {
    let child_id = match queue::child_of(db, job.session_id).await {
        Ok(child_id) => child_id,
        // The session was deleted meanwhile: nobody can be watching it.
        Err(_) => return,
    };
    let event = JobEvent::new(JobEventKind::for_status(job.status), child_id, job);
    if let Err(error) = bus.publish(event).await {
        tracing::warn!(error = format!("{error:#}"), "publishing a job event");
    }
}

/// Records a failed attempt and announces it in the same transaction (a retry announced
/// after another worker already started it would mislead subscribers).
async fn fail_and_announce(
    context: &WorkerContext,
    job: &analysis_job::Model,
    worker: &str,
    reason: &str,
    retryable: bool,
) {
    let settings = QueueSettings::from(context.settings.as_ref());
    let outcome: Result<(), sea_orm::DbErr> = async {
        let txn = context.db.begin().await?;
        if let Some(ended) = queue::fail(&txn, job, worker, reason, retryable, &settings).await? {
            tracing::info!(job = %ended.id, status = ended.status.as_str(), "job attempt ended");
            publish_state(context.bus.as_ref(), &txn, ended).await;
        }
        txn.commit().await
    }
    .await;
    if let Err(error) = outcome {
        tracing::error!(job = %job.id, %error, "recording a failed attempt");
    }
}

/// Gives the job back to the queue (shutdown) and announces it, in one transaction.
async fn release_and_announce(context: &WorkerContext, job_id: Uuid, worker: &str) -> Option<analysis_job::Model> {
    let outcome: Result<Option<analysis_job::Model>, sea_orm::DbErr> = async {
        let txn = context.db.begin().await?;
        let released = queue::release(&txn, job_id, worker).await?;
        if let Some(job) = &released {
            publish_state(context.bus.as_ref(), &txn, job.clone()).await;
        }
        txn.commit().await?;
        Ok(released)
    }
    .await;
    outcome.unwrap_or_else(|error| {
        tracing::error!(job = %job_id, %error, "releasing a job");
        None
    })
}

/// Messages from the analysis thread.
enum Update {
    Progress(Progress),
    Emotion(LiveEmotionInterval),
    Behaviour(LiveBehaviourInterval),
}

/// Updates the analysis thread has produced and the worker not yet taken.
///
/// The analysis thread runs at the lowest priority and is preempted whenever the gateway has
/// work, possibly while holding a lock. So it shares no lock that the runtime's threads wait
/// for: it never wakes a task (that takes the runtime's scheduler lock), and the worker only
/// *tries* this mutex on its publish and heartbeat ticks, leaving the updates for the next tick
/// if the analysis holds it. (Measured: with a channel that woke the worker, some fan-outs to
/// 10,000 subscribers ran at half speed, one runtime thread waiting on the preempted analysis.)
#[derive(Clone, Default)]
struct Updates(Arc<Mutex<Vec<Update>>>);

impl Updates {
    fn push(&self, update: Update) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(update);
    }

    /// What has arrived, unless the analysis thread is adding to it right now.
    fn try_take(&self) -> Vec<Update> {
        match self.0.try_lock() {
            Ok(mut updates) => std::mem::take(&mut *updates),
            Err(TryLockError::Poisoned(poisoned)) => std::mem::take(&mut *poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Vec::new(),
        }
    }

    /// Everything, once the analysis thread has finished.
    fn take(&self) -> Vec<Update> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct UpdateSink(Updates);

impl AnalysisSink for UpdateSink {
    fn progress(&mut self, progress: &Progress) {
        self.0.push(Update::Progress(progress.clone()));
    }

    fn emotion_interval(&mut self, track_id: u32, interval: &Interval<labels::Emotion>) {
        self.0.push(Update::Emotion(LiveEmotionInterval {
            track_id,
            emotion: results::emotion(interval.label),
            start_ms: interval.start_ms,
            end_ms: interval.end_ms,
            mean_confidence: f64::from(interval.mean_confidence),
            peak_confidence: f64::from(interval.peak_confidence),
        }));
    }

    fn behaviour_interval(&mut self, track_id: u32, interval: &Interval<labels::Behaviour>) {
        self.0.push(Update::Behaviour(LiveBehaviourInterval {
            track_id,
            behaviour: results::behaviour(interval.label),
            start_ms: interval.start_ms,
            end_ms: interval.end_ms,
            mean_confidence: f64::from(interval.mean_confidence),
            peak_confidence: f64::from(interval.peak_confidence),
        }));
    }
}

/// Options a job was started with (`AnalysisOptions` input, stored as JSON).
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOptions {
    pub fps: Option<f64>,
    pub batch_size: Option<usize>,
}

fn analysis_options(context: &WorkerContext, job: &analysis_job::Model) -> AnalysisOptions {
    let stored: JobOptions =
        job.options.clone().and_then(|options| serde_json::from_value(options).ok()).unwrap_or_default();
    let defaults = AnalysisOptions::default();
    AnalysisOptions {
        analysis_fps: stored.fps.or(defaults.analysis_fps),
        batch_size: stored.batch_size.unwrap_or(defaults.batch_size).max(1),
        models_dir: context.settings.models_dir.clone().unwrap_or(defaults.models_dir.clone()),
        ..defaults
    }
}

/// How an attempt ended.
enum Outcome {
    /// With the intervals not yet published.
    Finished(Box<(AnalysisResult, JobEvent)>),
    /// Not the video's fault and possibly temporary: retried with back-off.
    Retryable(String),
    /// The video can't be analysed: no retry.
    Permanent(String),
    /// Cancelled by a user, taken over, or released at shutdown: nothing more to record.
    Stopped,
}

/// Runs one claimed job to its end; gives the engine back for the next one (`None` if it had
/// to be dropped).
async fn run_job(
    context: &WorkerContext,
    worker: &str,
    job: analysis_job::Model,
    engine: Option<Engine>,
    shutdown: &CancellationToken,
) -> Option<Engine> {
    let child_id = match queue::child_of(&context.db, job.session_id).await {
        Ok(child_id) => child_id,
        Err(error) => {
            tracing::error!(job = %job.id, %error, "the job's session is gone");
            return engine;
        }
    };
    let _ = queue::set_session_status(&context.db, job.session_id, entity::enums::SessionStatus::Processing).await;
    let _ = context.bus.publish(JobEvent::new(JobEventKind::Started, child_id, job.clone())).await;
    let (engine, outcome) = attempt(context, worker, &job, child_id, engine, shutdown).await;
    match outcome {
        Outcome::Finished(finished) => match results::store(&context.db, &job, worker, &finished.0).await {
            Ok(Some(done)) => {
                tracing::info!(job = %done.id, "job done");
                let mut last = finished.1;
                last.kind = JobEventKind::Done;
                last.job = done;
                last.eta_seconds = Some(0.0);
                last.emitted_at = chrono::Utc::now();
                if let Err(error) = context.bus.publish(last).await {
                    tracing::warn!(error = format!("{error:#}"), "publishing the end of a job");
                }
            }
            // Cancelled or taken over meanwhile: nothing was written.
            Ok(None) => {}
            Err(error) => {
                tracing::error!(job = %job.id, %error, "storing the results");
                fail_and_announce(context, &job, worker, "the results could not be saved", true).await;
            }
        },
        Outcome::Retryable(reason) => {
            tracing::warn!(job = %job.id, %reason, "analysis attempt failed");
            fail_and_announce(context, &job, worker, &reason, true).await;
        }
        Outcome::Permanent(reason) => {
            tracing::info!(job = %job.id, %reason, "the video can't be analysed");
            fail_and_announce(context, &job, worker, &reason, false).await;
        }
        Outcome::Stopped => {}
    }
    engine
}

/// One attempt: fetch, analyse while publishing and heartbeating. Returns the engine and the
/// outcome (a job released at shutdown is already back in the queue and announced).
async fn attempt(
    context: &WorkerContext,
    worker: &str,
    job: &analysis_job::Model,
    child_id: Uuid,
    engine: Option<Engine>,
    shutdown: &CancellationToken,
) -> (Option<Engine>, Outcome) {
    let session = match session::Entity::find_by_id(job.session_id).one(&context.db).await {
        Ok(Some(session)) => session,
        Ok(None) => return (engine, Outcome::Permanent("the session was deleted".into())),
        Err(error) => return (engine, Outcome::Retryable(format!("database unavailable: {error}"))),
    };
    let Some(key) = session.video_blob_key else {
        return (engine, Outcome::Permanent("the session has no video: upload one first".into()));
    };
    // The local store hands out its file; anything else is copied to a temporary file that is
    // removed when this attempt ends.
    let (path, _temporary): (PathBuf, Option<tempfile::TempPath>) = match context.blobs.local_path(&key) {
        Some(path) => (path, None),
        None => {
            let temporary = match tempfile::Builder::new()
                .prefix("analysis-")
                .tempfile_in(context.settings.data_dir.join("tmp"))
                .or_else(|_| tempfile::NamedTempFile::new())
            {
                Ok(file) => file.into_temp_path(),
                Err(error) => return (engine, Outcome::Retryable(format!("no room for the video: {error}"))),
            };
            if let Err(error) = context.blobs.download(&key, &temporary).await {
                tracing::warn!(job = %job.id, error = format!("{error:#}"), "fetching the video");
                return (engine, Outcome::Retryable("the video could not be fetched from storage".into()));
            }
            (temporary.to_path_buf(), Some(temporary))
        }
    };
    let mut engine = match engine {
        Some(engine) => engine,
        None => {
            let models_dir = analysis_options(context, job).models_dir;
            match in_background(move || Engine::load(RuntimeOptions::default(), &models_dir)).await {
                Ok(Ok(engine)) => engine,
                Ok(Err(error)) => {
                    tracing::error!(%error, "loading the analysis models");
                    return (None, Outcome::Retryable(format!("the analysis engine could not start: {error}")));
                }
                Err(error) => return (None, Outcome::Retryable(format!("the analysis engine crashed: {error}"))),
            }
        }
    };

    let options = analysis_options(context, job);
    let cancel = AnalysisCancel::new();
    let updates = Updates::default();
    let sender = updates.clone();
    let mut analysis = {
        let cancel = cancel.clone();
        in_background(move || {
            let mut sink = UpdateSink(sender);
            let result = analyze(&mut engine, &path, &options, &mut sink, &cancel);
            (engine, result)
        })
    };

    let settings = QueueSettings::from(context.settings.as_ref());
    let mut snapshot = job.clone();
    let mut pending = JobEvent::new(JobEventKind::Progress, child_id, job.clone());
    let mut latest: Option<Progress> = None;
    let mut published_progress: Option<(String, i64)> = None;
    // The first report a period after STARTED (not at once, with nothing to say yet, right on
    // the heels of STARTED's own delivery to every subscriber).
    let start = tokio::time::Instant::now();
    let mut publish = tokio::time::interval_at(start + PUBLISH_EVERY, PUBLISH_EVERY);
    let mut heartbeat = tokio::time::interval_at(start + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
    let mut events = context.bus.subscribe();
    let mut lost = false;
    let mut stopping = false;
    let joined = loop {
        tokio::select! {
            joined = &mut analysis => break joined,
            _ = publish.tick() => {
                take_all(updates.try_take(), &mut pending, &mut latest);
                flush(context, &mut pending, &mut snapshot, latest.as_ref(), &mut published_progress).await;
            }
            _ = heartbeat.tick() => {
                take_all(updates.try_take(), &mut pending, &mut latest);
                let progress = latest.as_ref().map(progress_update);
                match queue::heartbeat(&context.db, job.id, worker, progress.as_ref(), &settings).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        tracing::info!(job = %job.id, "the job is no longer ours (cancelled or taken over); stopping");
                        lost = true;
                        cancel.cancel();
                    }
                    Err(error) => tracing::warn!(job = %job.id, %error, "heartbeat failed; will retry"),
                }
            }
            event = events.recv() => {
                if let Ok(event) = event && event.job.id == job.id && event.kind == JobEventKind::Cancelled {
                    tracing::info!(job = %job.id, "cancelled; stopping");
                    lost = true;
                    cancel.cancel();
                }
            }
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                cancel.cancel();
            }
        }
    };
    take_all(updates.take(), &mut pending, &mut latest);
    let (engine, result) = match joined {
        Ok((engine, result)) => (Some(engine), result),
        Err(error) => {
            tracing::error!(job = %job.id, %error, "the analysis thread panicked");
            return (None, Outcome::Retryable("internal error in the analysis".into()));
        }
    };
    if lost {
        return (engine, Outcome::Stopped);
    }
    let outcome = match result {
        // The intervals still pending ride on the DONE event (one event, not two in a row).
        Ok(result) => Outcome::Finished(Box::new((result, pending))),
        Err(AnalysisError::Cancelled) if stopping => {
            release_and_announce(context, job.id, worker).await;
            return (engine, Outcome::Stopped);
        }
        Err(AnalysisError::Cancelled) => Outcome::Stopped,
        Err(AnalysisError::Video(error)) => Outcome::Permanent(format!("the video could not be analysed: {error}")),
        Err(AnalysisError::Inference(error)) => {
            tracing::error!(job = %job.id, %error, "inference failed");
            return (None, Outcome::Retryable(format!("the analysis engine failed: {error}")));
        }
    };
    (engine, outcome)
}

/// Runs CPU-heavy work on a thread of its own at the lowest scheduling priority (Linux
/// `SCHED_IDLE`, inherited by the threads it starts), so that an analysis running flat out on
/// every core only uses the CPU time the API and subscriptions leave. Measured with 10,000
/// subscribers on 2 cores: at nice 10 the analysis still took enough of each fan-out to push
/// p99 to ~100 ms; at `SCHED_IDLE` 70–85 ms. Such a thread can be preempted for long while
/// holding a lock, so it shares none the runtime waits on (see `Updates`). A panic shows up
/// as `Err`.
fn in_background<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> tokio::sync::oneshot::Receiver<T> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("analysis".into()).spawn(move || {
        lower_priority();
        work()
    });
    // The result is handed over by a thread at normal priority: waking the waiting task takes
    // the runtime's scheduler lock, which the idle-priority thread must never hold.
    let handed_over = spawned.and_then(|analysis| {
        std::thread::Builder::new().name("analysis-join".into()).spawn(move || {
            if let Ok(result) = analysis.join() {
                let _ = sender.send(result);
            }
        })
    });
    if let Err(error) = handed_over {
        tracing::error!(%error, "starting an analysis thread");
    }
    receiver
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls about the calling thread (0 / its id); failure only means the
    // thread keeps a higher priority.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, thread, 19);
        }
    }
}

fn take_all(updates: Vec<Update>, pending: &mut JobEvent, latest: &mut Option<Progress>) {
    for update in updates {
        take(pending, latest, update);
    }
}

fn take(pending: &mut JobEvent, latest: &mut Option<Progress>, update: Update) {
    match update {
        Update::Progress(progress) => *latest = Some(progress),
        Update::Emotion(interval) => pending.emotion_intervals.push(interval),
        Update::Behaviour(interval) => pending.behaviour_intervals.push(interval),
    }
}

fn progress_update(progress: &Progress) -> ProgressUpdate {
    ProgressUpdate {
        stage: progress.stage.to_owned(),
        percent: progress.percent,
        frames_done: progress.frames_done,
        frames_total: progress.frames_total,
    }
}

/// Publishes what changed since the last event: progress and newly final intervals.
async fn flush(
    context: &WorkerContext,
    pending: &mut JobEvent,
    snapshot: &mut analysis_job::Model,
    latest: Option<&Progress>,
    published: &mut Option<(String, i64)>,
) {
    let moved = latest.map(|p| (p.stage.to_owned(), p.frames_done));
    let has_intervals = !pending.emotion_intervals.is_empty() || !pending.behaviour_intervals.is_empty();
    if moved == *published && !has_intervals {
        return;
    }
    if let Some(progress) = latest {
        snapshot.stage = progress.stage.to_owned();
        snapshot.progress = progress.percent;
        snapshot.frames_done = progress.frames_done;
        snapshot.frames_total = progress.frames_total;
        pending.eta_seconds = progress.eta_seconds;
    }
    *published = moved;
    let mut event = JobEvent::new(JobEventKind::Progress, pending.child_id, snapshot.clone());
    event.eta_seconds = pending.eta_seconds;
    event.emotion_intervals = std::mem::take(&mut pending.emotion_intervals);
    event.behaviour_intervals = std::mem::take(&mut pending.behaviour_intervals);
    if let Err(error) = context.bus.publish(event).await {
        tracing::warn!(error = format!("{error:#}"), "publishing progress");
    }
}
