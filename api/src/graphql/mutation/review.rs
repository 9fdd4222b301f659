//! Counsellor review of an analysis: verdicts on the model's intervals, the counsellors' own
//! intervals and session markers, and the session's review state (rules: `review`). Each
//! change is audited in its transaction and bumps the session's results version, so cached
//! intervals, pictures and exports never show the state before it.

use async_graphql::{Context, ID, Object};
use chrono::Utc;
use entity::{
    analysis_job, behaviour_code, behaviour_interval, coded_interval, emotion_interval,
    enums::{Behaviour, CodeKind, Emotion, IntervalSource, ReviewState, Role, SessionStatus},
    organisation, session, session_marker, tracked_object,
};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, ModelTrait,
    PaginatorTrait, PrimaryKeyTrait, QueryFilter, QueryOrder, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    access::{self, ChildAction, OrganisationAction},
    audit::{self, AuditAction},
    error::{ApiError, ApiResult},
    graphql::{
        context::ContextExt,
        guard::{self, Authorized},
        ids::{self, Kind},
        types::{BehaviourInterval, CodedInterval, EmotionInterval, Node, Session, SessionMarker},
    },
    jobs::events::{JobEvent, ReviewChange},
    review::{self, Change, IntervalKind, ReviewAction, Reviewable, codes},
};

/// A marker's code and note at most (characters), and markers per session at most.
const MAX_CODE_CHARS: usize = 100;
const MAX_NOTE_CHARS: usize = 2_000;
const MAX_MARKERS: u64 = 1_000;

#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// A counsellor's verdict on one interval: `CONFIRM` a model interval as proposed, `REJECT`
    /// it (it leaves the reviewed view; the model view keeps it), or `CHANGE` its `label`,
    /// `startMs` or `endMs` (the model's are kept as `modelEmotion`/`modelBehaviour`,
    /// `modelStartMs`, `modelEndMs`). A counsellor's own interval can be changed or rejected,
    /// by its coder or an admin; rejecting a `CodedInterval` takes it back (it is deleted, and
    /// returned as it was). Counsellors of the child and admins; returns the interval as it is
    /// now.
    async fn review_interval(
        &self,
        ctx: &Context<'_>,
        id: ID,
        action: ReviewAction,
        label: Option<String>,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
    ) -> ApiResult<Node> {
        match ids::decode(&id)?.0 {
            Kind::EmotionInterval => {
                let found = guard::load::<emotion_interval::Entity>(ctx, &id, ChildAction::Review).await?;
                let label = label.map(|label| review::parse_label(&label, Emotion::as_str)).transpose()?;
                let row = decide(ctx, found, action, Change { label, start_ms, end_ms }).await?;
                Ok(Node::EmotionInterval(EmotionInterval(row)))
            }
            Kind::BehaviourInterval => {
                let found = guard::load::<behaviour_interval::Entity>(ctx, &id, ChildAction::Review).await?;
                let label = label.map(|label| review::parse_label(&label, Behaviour::as_str)).transpose()?;
                let row = decide(ctx, found, action, Change { label, start_ms, end_ms }).await?;
                Ok(Node::BehaviourInterval(BehaviourInterval(row)))
            }
            Kind::CodedInterval => {
                let found = guard::load::<coded_interval::Entity>(ctx, &id, ChildAction::Review).await?;
                let (row, code) = decide_coded(ctx, found, action, label, start_ms, end_ms).await?;
                Ok(Node::CodedInterval(CodedInterval(row, code)))
            }
            _ => Err(ApiError::bad_input(format!("`{}` is not an interval's id", id.as_str()))),
        }
    }

    /// Codes an interval of a tracked person by hand: `kind` `EXPRESSION` (an observed facial
    /// expression; `EMOTION` also works) or `BEHAVIOUR` with one of that kind's built-in
    /// labels, or `CODE` with the name of one of the organisation's codes (`codingScheme`; a
    /// POINT code's interval has `endMs == startMs`; `BEHAVIOUR` takes a code's name too).
    /// Counsellors of the child and admins; the interval's `source` is `COUNSELLOR`.
    async fn add_interval(
        &self,
        ctx: &Context<'_>,
        object_id: ID,
        kind: String,
        label: String,
        start_ms: i64,
        end_ms: i64,
    ) -> ApiResult<Node> {
        let viewer = ctx.viewer()?;
        let kind = IntervalKind::parse(&kind)?;
        let object = guard::load::<tracked_object::Entity>(ctx, &object_id, ChildAction::Review).await?;
        let session = session_of(ctx, object.row.session_id).await?;
        not_analysing(&session)?;
        let label = match kind {
            IntervalKind::Emotion => Label::Emotion(review::parse_label(&label, Emotion::as_str)?),
            IntervalKind::Behaviour => match review::parse_label(&label, Behaviour::as_str) {
                Ok(behaviour) => Label::Behaviour(behaviour),
                Err(_) => Label::Code(codes::usable_code(&ctx.state().db, viewer.organisation_id, &label).await?),
            },
            IntervalKind::Code => {
                Label::Code(codes::usable_code(&ctx.state().db, viewer.organisation_id, &label).await?)
            }
        };
        match &label {
            Label::Code(code) => codes::check_span(code.kind, start_ms, end_ms, session.video_duration_ms)?,
            _ => review::check_bounds(start_ms, end_ms, session.video_duration_ms)?,
        }
        let now = Utc::now();
        let entry = ctx.audit_entry(AuditAction::IntervalAdd)?.child(object.child_id).session(session.id);
        let txn = crate::db::begin_write(&ctx.state().db).await?;
        crate::sessions::bump_results_version(&txn, session.id).await?;
        macro_rules! coded {
            ($module:ident, $label:ident, $value:expr) => {
                $module::Model {
                    id: Uuid::now_v7(),
                    object_id: object.id,
                    $label: $value,
                    start_ms,
                    end_ms,
                    // A counsellor's word, like a counsellor's label of a person.
                    mean_confidence: 1.0,
                    peak_confidence: 1.0,
                    source: IntervalSource::Counsellor,
                    review: None,
                    model_label: None,
                    model_start_ms: None,
                    model_end_ms: None,
                    coded_by: Some(viewer.user_id),
                    reviewed_by: Some(viewer.user_id),
                    samples: None,
                    reviewed_at: Some(now),
                }
                .into_active_model()
                .insert(&txn)
                .await?
            };
        }
        let node = match label {
            Label::Emotion(label) => Node::EmotionInterval(EmotionInterval(coded!(emotion_interval, emotion, label))),
            Label::Behaviour(label) => {
                Node::BehaviourInterval(BehaviourInterval(coded!(behaviour_interval, behaviour, label)))
            }
            Label::Code(code) => {
                // Counted and checked after the version bump has locked the session row, so
                // racing codings can't both pass.
                let code = codes::still_usable(&txn, &code).await?;
                let coded = coded_interval::Entity::find()
                    .inner_join(tracked_object::Entity)
                    .filter(tracked_object::Column::SessionId.eq(session.id))
                    .count(&txn)
                    .await?;
                if coded >= codes::MAX_CODED_PER_SESSION {
                    return Err(ApiError::bad_input(format!(
                        "a session has at most {} coded intervals",
                        codes::MAX_CODED_PER_SESSION
                    )));
                }
                let row = coded_interval::Model {
                    id: Uuid::now_v7(),
                    object_id: object.id,
                    code_id: code.id,
                    start_ms,
                    end_ms,
                    coded_by: viewer.user_id,
                    reviewed_by: viewer.user_id,
                    reviewed_at: now,
                };
                codes::check_exclusive(&txn, &code, &row).await?;
                let row = row.into_active_model().insert(&txn).await?;
                Node::CodedInterval(CodedInterval(row, code))
            }
        };
        changed(&txn, &session, entry).await?;
        txn.commit().await?;
        let node_id = match &node {
            Node::EmotionInterval(interval) => Kind::EmotionInterval.id(interval.0.id),
            Node::BehaviourInterval(interval) => Kind::BehaviourInterval.id(interval.0.id),
            Node::CodedInterval(interval) => Kind::CodedInterval.id(interval.0.id),
            _ => unreachable!("addInterval makes intervals. This is a bug."),
        };
        announce(ctx, &session, AuditAction::IntervalAdd, Some(node_id)).await;
        Ok(node)
    }

    /// Adds a timestamped note to a session (`code`, e.g. "topic: school" or "break", and an
    /// optional `note`), listed in `Session.markers`. Counsellors of the child and admins.
    async fn add_session_marker(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        at_ms: i64,
        code: String,
        note: Option<String>,
    ) -> ApiResult<SessionMarker> {
        let viewer = ctx.viewer()?;
        let session = guard::load::<session::Entity>(ctx, &session_id, ChildAction::Review).await?;
        let (code, note) = marker_fields(&session.row, at_ms, &code, note)?;
        let entry = ctx.audit_entry(AuditAction::MarkerAdd)?.child(session.child_id).session(session.id);
        let txn = crate::db::begin_write(&ctx.state().db).await?;
        // Counted after the version bump has locked the session row, so racing adds can't pass.
        crate::sessions::bump_results_version(&txn, session.id).await?;
        let markers =
            session_marker::Entity::find().filter(session_marker::Column::SessionId.eq(session.id)).count(&txn).await?;
        if markers >= MAX_MARKERS {
            return Err(ApiError::bad_input(format!("a session has at most {MAX_MARKERS} markers")));
        }
        let marker = session_marker::ActiveModel {
            id: Set(Uuid::now_v7()),
            session_id: Set(session.id),
            at_ms: Set(at_ms),
            code: Set(code),
            note: Set(note),
            author_id: Set(viewer.user_id),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await?;
        changed(&txn, &session.row, entry).await?;
        txn.commit().await?;
        announce(ctx, &session.row, AuditAction::MarkerAdd, Some(Kind::SessionMarker.id(marker.id))).await;
        Ok(SessionMarker(marker))
    }

    /// Changes a marker's time, code or note (what is not given stays; an empty `note` removes
    /// it). Its author and admins.
    async fn change_session_marker(
        &self,
        ctx: &Context<'_>,
        id: ID,
        at_ms: Option<i64>,
        code: Option<String>,
        note: Option<String>,
    ) -> ApiResult<SessionMarker> {
        let found = guard::load::<session_marker::Entity>(ctx, &id, ChildAction::Review).await?;
        let session = session_of(ctx, found.row.session_id).await?;
        let entry = ctx.audit_entry(AuditAction::MarkerChange)?.child(found.child_id).session(session.id);
        let txn = crate::db::begin_write(&ctx.state().db).await?;
        let marker = own_marker(ctx, &txn, &session, found.id).await?;
        let at_ms = at_ms.unwrap_or(marker.at_ms);
        let code = code.unwrap_or_else(|| marker.code.clone());
        let note = match note {
            Some(note) => Some(note),
            None => marker.note.clone(),
        };
        let (code, note) = marker_fields(&session, at_ms, &code, note)?;
        let mut model = marker.into_active_model();
        model.at_ms = Set(at_ms);
        model.code = Set(code);
        model.note = Set(note);
        let marker = model.update(&txn).await?;
        changed(&txn, &session, entry).await?;
        txn.commit().await?;
        announce(ctx, &session, AuditAction::MarkerChange, Some(Kind::SessionMarker.id(marker.id))).await;
        Ok(SessionMarker(marker))
    }

    /// Removes a marker; returns its id. Its author and admins.
    async fn remove_session_marker(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let found = guard::load::<session_marker::Entity>(ctx, &id, ChildAction::Review).await?;
        let session = session_of(ctx, found.row.session_id).await?;
        let entry = ctx.audit_entry(AuditAction::MarkerRemove)?.child(found.child_id).session(session.id);
        let txn = crate::db::begin_write(&ctx.state().db).await?;
        let marker = own_marker(ctx, &txn, &session, found.id).await?;
        marker.delete(&txn).await?;
        changed(&txn, &session, entry).await?;
        txn.commit().await?;
        let id = Kind::SessionMarker.id(found.id);
        announce(ctx, &session, AuditAction::MarkerRemove, Some(id.clone())).await;
        Ok(id)
    }

    /// Sets how far the session's analysis is reviewed, and records who and when. `IN_REVIEW`
    /// and `REVIEWED` need a finished analysis. Counsellors of the child and admins.
    async fn set_review_state(&self, ctx: &Context<'_>, session_id: ID, state: ReviewState) -> ApiResult<Session> {
        let viewer = ctx.viewer()?;
        let session = guard::load::<session::Entity>(ctx, &session_id, ChildAction::Review).await?;
        if state != ReviewState::NotReviewed && session.row.status != SessionStatus::Done {
            return Err(ApiError::bad_input("the session has no finished analysis to review"));
        }
        let entry = ctx.audit_entry(AuditAction::ReviewStateSet)?.child(session.child_id).session(session.id);
        let mut model = session.row.into_active_model();
        model.review_state = Set(state);
        model.review_state_by = Set(Some(viewer.user_id));
        model.review_state_at = Set(Some(Utc::now()));
        model.updated_at = Set(Utc::now());
        let txn = crate::db::begin_write(&ctx.state().db).await?;
        let updated = model.update(&txn).await?;
        audit::append(&txn, entry).await?;
        txn.commit().await?;
        announce(ctx, &updated, AuditAction::ReviewStateSet, None).await;
        Ok(Session(updated))
    }
}

/// Tells the session's followers (`sessionEvents`) about a committed change. Best effort, like
/// every event; a session never analysed has no job to carry it, and nobody follows its review.
async fn announce(ctx: &Context<'_>, session: &session::Model, action: AuditAction, node_id: Option<ID>) {
    let state = ctx.state();
    let latest = analysis_job::Entity::find()
        .filter(analysis_job::Column::SessionId.eq(session.id))
        .order_by_desc(analysis_job::Column::CreatedAt)
        .one(&state.db)
        .await;
    let job = match latest {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(error = %error, "finding a session's latest job for a review event");
            return;
        }
    };
    let change = ReviewChange { action: action.as_str().to_owned(), node_id };
    if let Err(error) = state.bus.publish(JobEvent::reviewing(session.child_id, job, change)).await {
        tracing::warn!(error = format!("{error:#}"), "publishing a review event");
    }
}

/// Review changes wait for a running analysis: it replaces the intervals they would change.
fn not_analysing(session: &session::Model) -> ApiResult<()> {
    match session.status {
        SessionStatus::Queued | SessionStatus::Processing => {
            Err(ApiError::bad_input("an analysis of this session is running: review it once it is done"))
        }
        _ => Ok(()),
    }
}

/// Whether guardians see only the sessions a counsellor marked REVIEWED.
#[derive(async_graphql::SimpleObject)]
pub struct ReviewPolicy {
    pub guardians_see_reviewed_only: bool,
}

#[derive(Default)]
pub struct ReviewPolicyMutation;

#[Object]
impl ReviewPolicyMutation {
    /// Shows guardians only the sessions a counsellor marked `REVIEWED` (others answer
    /// `NOT_FOUND` and are left out of lists, trends, pictures and exports), or every session.
    /// Turning it on deletes the exports guardians asked for before (they ask again). Admins
    /// only.
    async fn set_review_policy(&self, ctx: &Context<'_>, guardians_see_reviewed_only: bool) -> ApiResult<ReviewPolicy> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::SetReviewPolicy)?;
        let state = ctx.state();
        let organisation = organisation::Entity::find_by_id(viewer.organisation_id)
            .one(&state.db)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let tightened = guardians_see_reviewed_only && !organisation.guardians_see_reviewed_only;
        let mut model = organisation.into_active_model();
        model.guardians_see_reviewed_only = Set(guardians_see_reviewed_only);
        let txn = crate::db::begin_write(&state.db).await?;
        // Export requests take the same lock (`exports::request`).
        crate::db::lock_organisation(&txn, viewer.organisation_id).await?;
        let organisation = model.update(&txn).await?;
        // Guardians' exports made before hold unreviewed sessions: they go, like a withdrawn
        // consent's.
        let stale = match tightened {
            true => crate::exports::delete_of_guardians(&txn, organisation.id).await?,
            false => Vec::new(),
        };
        audit::append(&txn, ctx.audit_entry(AuditAction::ReviewPolicySet)?).await?;
        txn.commit().await?;
        for key in stale {
            crate::videos::remove_quietly(state.blobs.as_ref(), &key).await;
        }
        // Remembered subscription rights may have been granted under the old policy.
        state.rights.forget_all();
        Ok(ReviewPolicy { guardians_see_reviewed_only: organisation.guardians_see_reviewed_only })
    }
}

/// The caller's organisation's review policy (everyone of the organisation may read it).
pub async fn review_policy(ctx: &Context<'_>) -> ApiResult<ReviewPolicy> {
    let viewer = ctx.viewer()?;
    access::authorize_in_organisation(&viewer, OrganisationAction::ReadReviewPolicy)?;
    let organisation = organisation::Entity::find_by_id(viewer.organisation_id)
        .one(&ctx.state().db)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(ReviewPolicy { guardians_see_reviewed_only: organisation.guardians_see_reviewed_only })
}

/// The session a tracked person was found in.
async fn session_of(ctx: &Context<'_>, session_id: Uuid) -> ApiResult<session::Model> {
    session::Entity::find_by_id(session_id).one(&ctx.state().db).await?.ok_or(ApiError::NotFound)
}

/// Applies `action` to the interval `found` and stores it with who and when.
async fn decide<M, A>(
    ctx: &Context<'_>,
    found: Authorized<M>,
    action: ReviewAction,
    change: Change<M::Label>,
) -> ApiResult<M>
where
    M: Reviewable + IntoActiveModel<A> + ModelTrait + Send + Sync,
    A: ActiveModelTrait<Entity = M::Entity> + ActiveModelBehavior + Send,
    M::Entity: EntityTrait<Model = M> + guard::Guarded,
    <<M::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    let viewer = ctx.viewer()?;
    let object = tracked_object::Entity::find_by_id(found.row.object_id())
        .one(&ctx.state().db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let session = session_of(ctx, object.session_id).await?;
    not_analysing(&session)?;
    let entry = ctx.audit_entry(AuditAction::IntervalReview)?.child(found.child_id).session(session.id);
    let txn = crate::db::begin_write(&ctx.state().db).await?;
    // The version bump locks the session row first (as a re-analysis does), then the interval
    // is read again: the decision is on the row as it is, not as it was read above.
    crate::sessions::bump_results_version(&txn, session.id).await?;
    let current = M::Entity::find_by_id(found.id).one(&txn).await?.ok_or(ApiError::NotFound)?;
    let coding = current.coding();
    // A counsellor's own coding is theirs (and an admin's) to change: two coders' agreement
    // depends on it.
    if coding.source == IntervalSource::Counsellor
        && current.coded_by() != Some(viewer.user_id)
        && viewer.role() != Some(Role::Admin)
    {
        return Err(ApiError::Forbidden);
    }
    let coding = coding.decide(action, change, session.video_duration_ms)?;
    let row = current.with_coding(coding).stamped(viewer.user_id, Utc::now());
    let updated = row.into_active_model().reset_all().update(&txn).await?;
    changed(&txn, &session, entry).await?;
    txn.commit().await?;
    announce(ctx, &session, AuditAction::IntervalReview, Some(<M::Entity as guard::Guarded>::KIND.id(found.id))).await;
    Ok(updated)
}

/// A marker's code and note as stored (trimmed; an empty note is none), if they and `at_ms`
/// are acceptable for `session`.
fn marker_fields(
    session: &session::Model,
    at_ms: i64,
    code: &str,
    note: Option<String>,
) -> ApiResult<(String, Option<String>)> {
    let code = code.trim();
    if code.is_empty() || code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::bad_input(format!("a marker's code has 1 to {MAX_CODE_CHARS} characters")));
    }
    let note = note.map(|note| note.trim().to_owned()).filter(|note| !note.is_empty());
    if note.as_ref().is_some_and(|note| note.chars().count() > MAX_NOTE_CHARS) {
        return Err(ApiError::bad_input(format!("a marker's note has at most {MAX_NOTE_CHARS} characters")));
    }
    if at_ms < 0 || session.video_duration_ms.is_some_and(|duration| at_ms > duration) {
        return Err(ApiError::bad_input(format!("atMs {at_ms} is not within the video")));
    }
    Ok((code.to_owned(), note))
}

/// The marker `id` as it is inside `txn` (after the session row is locked), if the caller is
/// its author or an admin.
async fn own_marker(
    ctx: &Context<'_>,
    txn: &impl ConnectionTrait,
    session: &session::Model,
    id: Uuid,
) -> ApiResult<session_marker::Model> {
    let viewer = ctx.viewer()?;
    crate::sessions::bump_results_version(txn, session.id).await?;
    let marker = session_marker::Entity::find_by_id(id).one(txn).await?.ok_or(ApiError::NotFound)?;
    if marker.author_id != viewer.user_id && viewer.role() != Some(Role::Admin) {
        return Err(ApiError::Forbidden);
    }
    Ok(marker)
}

/// What `addInterval` codes: a built-in label of either kind, or one of the organisation's codes.
enum Label {
    Emotion(Emotion),
    Behaviour(Behaviour),
    Code(behaviour_code::Model),
}

/// Applies `action` to the coded interval `found` (rules: `review::codes`): its coder (or an
/// admin) may change its code or boundaries, or reject it (which deletes it; the interval is
/// returned as it was).
async fn decide_coded(
    ctx: &Context<'_>,
    found: Authorized<coded_interval::Model>,
    action: ReviewAction,
    label: Option<String>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
) -> ApiResult<(coded_interval::Model, behaviour_code::Model)> {
    let viewer = ctx.viewer()?;
    let object = tracked_object::Entity::find_by_id(found.row.object_id)
        .one(&ctx.state().db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let session = session_of(ctx, object.session_id).await?;
    not_analysing(&session)?;
    let new_code = match (action, label) {
        (ReviewAction::Change, Some(label)) => {
            Some(codes::usable_code(&ctx.state().db, viewer.organisation_id, &label).await?)
        }
        _ => None,
    };
    let entry = ctx.audit_entry(AuditAction::IntervalReview)?.child(found.child_id).session(session.id);
    let txn = crate::db::begin_write(&ctx.state().db).await?;
    // Locks the session row, then decides on the interval as it is (see `decide`).
    crate::sessions::bump_results_version(&txn, session.id).await?;
    let (current, code) = coded_interval::Entity::find_by_id(found.id)
        .find_also_related(behaviour_code::Entity)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    let code = code.expect("a coded interval's code is kept by a foreign key. This is a bug.");
    if current.coded_by != viewer.user_id && viewer.role() != Some(Role::Admin) {
        return Err(ApiError::Forbidden);
    }
    let mut row = current.clone();
    let code = match action {
        ReviewAction::Confirm => {
            return Err(ApiError::bad_input(
                "a counsellor's own interval is not a proposal to confirm: change or reject it",
            ));
        }
        // The coder takes it back: nothing is left to show (the audit entry keeps the act).
        ReviewAction::Reject => {
            current.clone().delete(&txn).await?;
            changed(&txn, &session, entry).await?;
            txn.commit().await?;
            announce(ctx, &session, AuditAction::IntervalReview, Some(Kind::CodedInterval.id(found.id))).await;
            return Ok((current, code));
        }
        ReviewAction::Change => {
            if new_code.is_none() && start_ms.is_none() && end_ms.is_none() {
                return Err(ApiError::bad_input("CHANGE needs a new `label`, `startMs` or `endMs`"));
            }
            let code = match &new_code {
                Some(new_code) => codes::still_usable(&txn, new_code).await?,
                None => code,
            };
            row.code_id = code.id;
            row.start_ms = start_ms.unwrap_or(current.start_ms);
            // A POINT stays an instant when only its start moves.
            row.end_ms = match (end_ms, code.kind) {
                (Some(end_ms), _) => end_ms,
                (None, CodeKind::Point) => row.start_ms,
                (None, CodeKind::State) => current.end_ms,
            };
            codes::check_span(code.kind, row.start_ms, row.end_ms, session.video_duration_ms)?;
            codes::check_exclusive(&txn, &code, &row).await?;
            code
        }
    };
    row.reviewed_by = viewer.user_id;
    row.reviewed_at = Utc::now();
    let updated = row.into_active_model().reset_all().update(&txn).await?;
    changed(&txn, &session, entry).await?;
    txn.commit().await?;
    announce(ctx, &session, AuditAction::IntervalReview, Some(Kind::CodedInterval.id(found.id))).await;
    Ok((updated, code))
}

/// What every review change does besides itself: move the session into review, append the
/// audit entry. Each change bumps the results version first thing in its transaction (which
/// also locks the session row, as a re-analysis does), so once is enough.
async fn changed(txn: &impl ConnectionTrait, session: &session::Model, entry: audit::AuditEntry) -> ApiResult<()> {
    // A change starts a review, or reopens a finished one (what guardians see must be signed
    // off again); conditional, so a concurrent `setReviewState` is never overwritten.
    session::Entity::update_many()
        .col_expr(session::Column::ReviewState, Expr::value(ReviewState::InReview.as_str()))
        .col_expr(session::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(session::Column::Id.eq(session.id))
        .filter(session::Column::ReviewState.is_in([ReviewState::NotReviewed, ReviewState::Reviewed]))
        .filter(session::Column::Status.eq(SessionStatus::Done))
        .exec(txn)
        .await?;
    audit::append(txn, entry).await?;
    Ok(())
}
