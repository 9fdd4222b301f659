//! One attempt at a claimed job: fetch the video, analyse it on a low-priority thread while
//! publishing progress and heartbeating, then record how it ended through the queue.

use std::time::Duration;

use entity::{analysis_job, session};
use imind_inference::{AnalysisError, AnalysisOptions, AnalysisResult, Engine, RuntimeOptions, analyze};
use sea_orm::EntityTrait;
use tokio_util::sync::CancellationToken;

use super::{
    WorkerContext,
    background::in_background,
    progress::{Report, Updates},
};
use crate::{
    blob::{CopyError, LocalCopy},
    jobs::{
        events::{JobEventKind, LiveIntervals},
        queue::{self, JobOptions},
    },
};

const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// Also the database progress-write rate: at most two per second per job.
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// How an attempt ended.
enum Outcome {
    Finished(Box<Finished>),
    /// Not the video's fault and possibly temporary: retried with back-off.
    Retryable(String),
    /// The video can't be analysed: no retry.
    Permanent(String),
    /// Cancelled by a user, taken over, or released at shutdown: nothing more to record.
    Stopped,
}

/// A finished analysis, with the intervals that were not published while it ran.
struct Finished {
    result: AnalysisResult,
    unpublished: LiveIntervals,
}

/// Runs one claimed job to its end; gives the engine back for the next one (`None` if it had
/// to be dropped).
#[tracing::instrument(skip_all, fields(job = %job.id, attempt = job.attempts))]
pub(super) async fn run(
    context: &WorkerContext,
    worker: &str,
    job: analysis_job::Model,
    engine: Option<Engine>,
    shutdown: &CancellationToken,
) -> Option<Engine> {
    tracing::info!("claimed a job");
    let (engine, outcome) = match context.queue.consented(&job).await {
        Ok(true) => attempt(context, worker, &job, engine, shutdown).await,
        // Queued while consent was being withdrawn: the video must not be analysed.
        Ok(false) => (engine, Outcome::Permanent("automated analysis of this child is not consented to".into())),
        Err(error) => {
            tracing::error!(%error, "checking consent");
            (engine, Outcome::Retryable("consent could not be checked".into()))
        }
    };
    let ended = match outcome {
        Outcome::Finished(finished) => {
            match context.queue.complete(&job, worker, &finished.result, finished.unpublished).await {
                // `None`: cancelled or taken over meanwhile, and nothing was written.
                Ok(_) => Ok(()),
                Err(error) => {
                    tracing::error!(%error, "storing the results");
                    context.queue.fail(&job, worker, "the results could not be saved", true).await.map(drop)
                }
            }
        }
        Outcome::Retryable(reason) => {
            tracing::warn!(%reason, "analysis attempt failed");
            context.queue.fail(&job, worker, &reason, true).await.map(drop)
        }
        Outcome::Permanent(reason) => {
            tracing::info!(%reason, "the video can't be analysed");
            context.queue.fail(&job, worker, &reason, false).await.map(drop)
        }
        Outcome::Stopped => Ok(()),
    };
    if let Err(error) = ended {
        tracing::error!(%error, "recording how the attempt ended");
    }
    engine
}

/// Fetch, analyse while publishing and heartbeating. Returns the engine and the outcome (a job
/// released at shutdown is already back in the queue and announced).
async fn attempt(
    context: &WorkerContext,
    worker: &str,
    job: &analysis_job::Model,
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
    let video = match LocalCopy::of(context.blobs.as_ref(), &key, &context.temp_dir()).await {
        Ok(video) => video,
        Err(CopyError::NoRoom(error)) => {
            return (engine, Outcome::Retryable(format!("no room for the video: {error}")));
        }
        Err(CopyError::Fetch(error)) => {
            tracing::warn!(error = format!("{error:#}"), "fetching the video");
            return (engine, Outcome::Retryable("the video could not be fetched from storage".into()));
        }
    };
    let options = analysis_options(context, job);
    let mut engine = match engine {
        Some(engine) => engine,
        None => {
            let models_dir = options.models_dir.clone();
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
    let child_id = match queue::child_of(&context.db, job.session_id).await {
        Ok(child_id) => child_id,
        Err(_) => return (Some(engine), Outcome::Permanent("the session was deleted".into())),
    };

    let cancel = CancellationToken::new();
    let updates = Updates::default();
    let mut analysis = {
        let (cancel, mut sink, path) = (cancel.clone(), updates.sink(), video.path().to_owned());
        in_background(move || {
            let result = analyze(&mut engine, &path, &options, &mut sink, &cancel);
            (engine, result)
        })
    };

    let mut report = Report::new(child_id, job.clone().into());
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
                report.gather(&updates);
                report.flush(&context.queue).await;
            }
            _ = heartbeat.tick() => {
                report.gather(&updates);
                match context.queue.heartbeat(job.id, worker, report.heartbeat().as_ref()).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        tracing::info!("the job is no longer ours (cancelled or taken over); stopping");
                        lost = true;
                        cancel.cancel();
                    }
                    Err(error) => tracing::warn!(%error, "heartbeat failed; will retry"),
                }
            }
            event = events.recv() => {
                if let Ok(event) = event && event.job.id == job.id && event.kind == JobEventKind::Cancelled {
                    tracing::info!("cancelled; stopping");
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
    report.gather_all(&updates);
    drop(video);
    let (engine, result) = match joined {
        Ok((engine, result)) => (Some(engine), result),
        Err(error) => {
            tracing::error!(%error, "the analysis thread panicked");
            return (None, Outcome::Retryable("internal error in the analysis".into()));
        }
    };
    if lost {
        return (engine, Outcome::Stopped);
    }
    let outcome = match result {
        // The intervals still pending ride on the DONE event (one event, not two in a row).
        Ok(result) => Outcome::Finished(Box::new(Finished { result, unpublished: report.into_unpublished() })),
        Err(AnalysisError::Cancelled) if stopping => {
            if let Err(error) = context.queue.release(job.id, worker).await {
                tracing::error!(%error, "releasing the job");
            }
            Outcome::Stopped
        }
        Err(AnalysisError::Cancelled) => Outcome::Stopped,
        Err(AnalysisError::Video(error)) => Outcome::Permanent(format!("the video could not be analysed: {error}")),
        Err(AnalysisError::Inference(error)) => {
            tracing::error!(%error, "inference failed");
            return (None, Outcome::Retryable(format!("the analysis engine failed: {error}")));
        }
    };
    (engine, outcome)
}

fn analysis_options(context: &WorkerContext, job: &analysis_job::Model) -> AnalysisOptions {
    let stored = JobOptions::of(job);
    let defaults = AnalysisOptions::default();
    AnalysisOptions {
        analysis_fps: stored.fps.or(defaults.analysis_fps),
        batch_size: stored.batch_size.unwrap_or(defaults.batch_size).max(1),
        models_dir: context.settings.models_dir.clone().unwrap_or(defaults.models_dir.clone()),
        limits: context.settings.media_limits(),
        decoding: context.settings.decoding(),
        ..defaults
    }
}
