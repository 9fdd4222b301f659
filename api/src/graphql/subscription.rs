//! Live updates over WebSocket (`graphql-transport-ws` or legacy `graphql-ws` on `/graphql`).
//! The access token goes in `connection_init` and grants exactly the query rights: a caller
//! who may read a job's session may follow it. Rights can change while a subscription runs (a
//! counsellor taken off a child, a sign-in ended), so they are checked again before every
//! event; once they are gone the stream ends with `NOT_FOUND` (or `UNAUTHENTICATED`).

use std::sync::Arc;

use async_graphql::{Context, ID, Subscription};
use entity::{analysis_job, enums::Role};
use futures_util::Stream;
use sea_orm::EntityTrait;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use uuid::Uuid;

use super::{
    context::ContextExt,
    guard,
    types::{AnalysisEvent, SessionEvent},
};
use crate::{
    access::{ChildAction, Target, authorize},
    auth::Credential,
    error::{ApiError, ApiResult},
    jobs::events::{JobEvent, JobEventKind},
    state::AppState,
};

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Follows one analysis job: its current state at once, then stage / percent / frames /
    /// ETA and every newly final interval; completes when the job ends (DONE, FAILED with its
    /// reason, or CANCELLED).
    async fn analysis_progress(
        &self,
        ctx: &Context<'_>,
        job_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = ApiResult<AnalysisEvent>> + use<>> {
        let state = ctx.state().clone();
        let credential = ctx.request().credential()?;
        let (events, current) = open_job(ctx, &state, &job_id).await?;
        Ok(follow_job(state, credential, events, current))
    }

    /// Every analysis event of one child's sessions (queued, started, progress, done, failed,
    /// cancelled), and every review change (`REVIEW`, so a second counsellor's screen updates
    /// live), for a counsellor's dashboard. Runs until the client unsubscribes.
    async fn session_events(
        &self,
        ctx: &Context<'_>,
        child_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = ApiResult<SessionEvent>> + use<>> {
        let state = ctx.state().clone();
        let credential = ctx.request().credential()?;
        let (child_id, _) = guard::authorize::<entity::child::Entity>(ctx, &child_id, ChildAction::Read).await?;
        let mut events = state.bus.subscribe();
        let shutdown = state.shutdown.clone();
        Ok(async_stream::stream! {
            loop {
                let received = tokio::select! {
                    () = shutdown.cancelled() => break,
                    received = events.recv() => received,
                };
                match received {
                    Ok(event) if event.child_id == child_id => {
                        if let Err(error) = still_readable(&state, &credential, Target::Child(child_id)).await {
                            yield Err(error);
                            break;
                        }
                        // A session the subscriber may not see (not reviewed yet, for a guardian
                        // whose organisation shows reviewed sessions only) stays unannounced. Asked
                        // afresh, not from the remembered answers: a review state changes by the
                        // second. Only guardians see fewer sessions than children.
                        if credential.viewer.role() == Some(Role::Guardian) {
                            let session = Target::Session(event.job.session_id);
                            let asked = authorize(&state.db, &credential.viewer, session, ChildAction::Read).await;
                            if asked.is_err() {
                                continue;
                            }
                        }
                        yield Ok(SessionEvent(event));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}

/// Checks the caller may read the job, then subscribes and reads its current state (in that
/// order, so no event falls between the two).
async fn open_job(
    ctx: &Context<'_>,
    state: &AppState,
    job_id: &ID,
) -> ApiResult<(Receiver<Arc<JobEvent>>, Arc<JobEvent>)> {
    let (job_id, child_id) = guard::authorize::<analysis_job::Entity>(ctx, job_id, ChildAction::Read).await?;
    let events = state.bus.subscribe();
    Ok((events, current_state(state, job_id, child_id).await?))
}

async fn current_state(state: &AppState, job_id: Uuid, child_id: Uuid) -> ApiResult<Arc<JobEvent>> {
    let job = analysis_job::Entity::find_by_id(job_id).one(&state.db).await?.ok_or(ApiError::NotFound)?;
    Ok(Arc::new(JobEvent::announcing(child_id, job)))
}

/// The job's events from `current` on, until it ends. Progress never goes backwards within an
/// attempt (a buffered event may be older than the state read from the database); after a
/// gap (this subscriber lagged) the state is read again.
fn follow_job(
    state: AppState,
    credential: Credential,
    mut events: Receiver<Arc<JobEvent>>,
    current: Arc<JobEvent>,
) -> impl Stream<Item = ApiResult<AnalysisEvent>> {
    async_stream::stream! {
        let job_id = current.job.id;
        let child_id = current.child_id;
        let mut last = current.clone();
        let ended = current.is_final();
        yield Ok(AnalysisEvent(current));
        if !ended {
            loop {
                let received = tokio::select! {
                    () = state.shutdown.cancelled() => break,
                    received = events.recv() => received,
                };
                let event = match received {
                    // Review changes are the session's news, not the analysis's.
                    Ok(event) if event.job.id == job_id && event.kind != JobEventKind::Review => event,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => match current_state(&state, job_id, child_id).await {
                        Ok(event) => event,
                        Err(_) => break,
                    },
                    Err(RecvError::Closed) => break,
                };
                let event = match not_backwards(&last, event) {
                    Some(event) => event,
                    None => continue,
                };
                if let Err(error) = still_readable(&state, &credential, Target::Job(job_id)).await {
                    yield Err(error);
                    break;
                }
                let ended = event.is_final();
                last = event.clone();
                yield Ok(AnalysisEvent(event));
                if ended {
                    break;
                }
            }
        }
    }
}

/// Whether the subscriber may still read `target` (its sign-in stands and its rights are there).
async fn still_readable(state: &AppState, credential: &Credential, target: Target) -> ApiResult<()> {
    if !state.sign_ins.stands(credential).await? {
        return Err(ApiError::Unauthenticated);
    }
    state.rights.authorize(&state.db, &credential.viewer, target, ChildAction::Read).await.map(drop)
}

/// `event`, unless it is an older progress report than `last` (then its intervals, if any,
/// with `last`'s progress).
fn not_backwards(last: &JobEvent, event: Arc<JobEvent>) -> Option<Arc<JobEvent>> {
    let same_attempt = event.kind == JobEventKind::Progress && event.job.attempts == last.job.attempts;
    if !same_attempt || event.job.frames_done >= last.job.frames_done {
        return Some(event);
    }
    if event.emotion_intervals.is_empty() && event.behaviour_intervals.is_empty() {
        return None;
    }
    let mut patched = (*event).clone();
    patched.job.percent = last.job.percent;
    patched.job.frames_done = last.job.frames_done;
    patched.job.stage = last.job.stage;
    Some(Arc::new(patched))
}
