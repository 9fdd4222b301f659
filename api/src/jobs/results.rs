//! The rows of one analysis: a session's tracked people and their intervals, written inside
//! the transaction in which the queue marks the job DONE (`queue::Queue::complete`), so a
//! re-run never duplicates intervals and a crash leaves the old results in place. What the
//! counsellors did to the previous results is carried over by `review::carry_over`'s rules.

use std::collections::HashSet;

use entity::{
    behaviour_interval, coded_interval, emotion_interval,
    enums::{IntervalSource, ReviewState},
    session, tracked_object,
};
use imind_inference::AnalysisResult;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use super::labels;
use crate::review::{
    Reviewable,
    carry_over::{self, CarryOver, DroppedReview, Proposal, Seen},
};

/// Rows per INSERT: well under SQLite's bound-parameter limit at 17 columns.
const CHUNK: usize = 200;

/// A sample count as stored (a 50-minute video at 30 fps has 90,000 samples).
fn count(samples: u32) -> i32 {
    i32::try_from(samples).unwrap_or(i32::MAX)
}

/// Replaces the session's model results with `result`'s, keeping what counsellors did that
/// still applies, and bumps its results version (what is derived from the old results is
/// keyed by the old version, so no gateway uses it).
pub(super) async fn replace(
    txn: &impl ConnectionTrait,
    session_id: Uuid,
    result: &AnalysisResult,
) -> Result<CarryOver, sea_orm::DbErr> {
    crate::sessions::bump_results_version(txn, session_id).await?;
    let session = session::Entity::find_by_id(session_id)
        .one(txn)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("session {session_id}")))?;
    // Results of another video (a replaced one) keep nothing: their times mean nothing here.
    let video_changed =
        session.analysed_video_sha256.is_some() && session.analysed_video_sha256 != session.video_sha256;
    let old_people =
        tracked_object::Entity::find().filter(tracked_object::Column::SessionId.eq(session_id)).all(txn).await?;
    let old_ids: Vec<Uuid> = old_people.iter().map(|person| person.id).collect();
    let old_emotions = emotion_interval::Entity::find()
        .filter(emotion_interval::Column::ObjectId.is_in(old_ids.clone()))
        .all(txn)
        .await?;
    let old_behaviours = behaviour_interval::Entity::find()
        .filter(behaviour_interval::Column::ObjectId.is_in(old_ids.clone()))
        .all(txn)
        .await?;

    let old_seen: Vec<(Uuid, Seen)> = old_people
        .iter()
        .map(|person| (person.id, Seen { first_ms: person.first_seen_ms, last_ms: person.last_seen_ms }))
        .collect();
    let new_seen: Vec<Seen> = result
        .objects
        .iter()
        .map(|object| Seen { first_ms: object.first_seen_ms, last_ms: object.last_seen_ms })
        .collect();
    let successors =
        if video_changed { vec![None; new_seen.len()] } else { carry_over::successors(&old_seen, &new_seen) };
    let mut report =
        CarryOver { people_kept: successors.iter().flatten().count() as u32, video_changed, ..CarryOver::default() };

    // The model's old intervals go; the counsellors' own stay with their (kept) people.
    emotion_interval::Entity::delete_many()
        .filter(emotion_interval::Column::ObjectId.is_in(old_ids.clone()))
        .filter(emotion_interval::Column::Source.eq(IntervalSource::Model))
        .exec(txn)
        .await?;
    behaviour_interval::Entity::delete_many()
        .filter(behaviour_interval::Column::ObjectId.is_in(old_ids.clone()))
        .filter(behaviour_interval::Column::Source.eq(IntervalSource::Model))
        .exec(txn)
        .await?;
    // Intervals coded with the organisation's codes are all the counsellors'.
    let old_codings: Vec<Uuid> = coded_interval::Entity::find()
        .select_only()
        .column(coded_interval::Column::ObjectId)
        .filter(coded_interval::Column::ObjectId.is_in(old_ids.clone()))
        .into_tuple()
        .all(txn)
        .await?;
    let continued: HashSet<Uuid> = successors.iter().flatten().copied().collect();
    let coded: HashSet<Uuid> = old_emotions
        .iter()
        .filter(|row| row.source == IntervalSource::Counsellor)
        .map(|row| row.object_id)
        .chain(old_behaviours.iter().filter(|row| row.source == IntervalSource::Counsellor).map(|row| row.object_id))
        .chain(old_codings.iter().copied())
        .collect();
    report.counsellor_intervals_kept =
        (old_emotions.iter().filter(|row| row.source == IntervalSource::Counsellor).count()
            + old_behaviours.iter().filter(|row| row.source == IntervalSource::Counsellor).count()
            + old_codings.len()) as u32;
    let gone: Vec<Uuid> = old_ids
        .iter()
        .copied()
        .filter(|id| video_changed || (!continued.contains(id) && !coded.contains(id)))
        .collect();
    if video_changed {
        report.counsellor_intervals_kept = 0;
    }
    report.labels_dropped = old_people
        .iter()
        .filter(|person| !video_changed && person.role_confidence >= 1.0 && gone.contains(&person.id))
        .map(|person| person.label.clone())
        .take(carry_over::MAX_LISTED)
        .collect();
    if !gone.is_empty() {
        tracked_object::Entity::delete_many().filter(tracked_object::Column::Id.is_in(gone.clone())).exec(txn).await?;
    }
    // People kept only for the counsellors' coding were not seen by this analysis: their old
    // face counts no longer describe any results.
    let coded_only: Vec<Uuid> =
        old_ids.iter().copied().filter(|id| !continued.contains(id) && !gone.contains(id)).collect();
    if !coded_only.is_empty() {
        let unknown: Option<i32> = None;
        tracked_object::Entity::update_many()
            .col_expr(tracked_object::Column::Samples, unknown.into())
            .col_expr(tracked_object::Column::FaceSamples, unknown.into())
            .col_expr(tracked_object::Column::UsableFaceSamples, unknown.into())
            .col_expr(tracked_object::Column::FacesTooSmall, unknown.into())
            .col_expr(tracked_object::Column::FacesUncertain, unknown.into())
            .col_expr(tracked_object::Column::FacesBlurred, unknown.into())
            .col_expr(tracked_object::Column::FacesTurnedAway, unknown.into())
            .filter(tracked_object::Column::Id.is_in(coded_only))
            .exec(txn)
            .await?;
    }

    let mut new_people = Vec::new();
    let mut emotions = Vec::new();
    let mut behaviours = Vec::new();
    for (object, successor) in result.objects.iter().zip(&successors) {
        let object_id = successor.unwrap_or_else(Uuid::now_v7);
        let previous = successor.and_then(|id| old_people.iter().find(|person| person.id == id));
        // A counsellor's word on who the person is (confidence 1) outlives the model's guess.
        let labelled = previous.filter(|person| person.role_confidence >= 1.0);
        let row = tracked_object::ActiveModel {
            id: Set(object_id),
            session_id: Set(session_id),
            label: Set(object.label.clone()),
            role: Set(labelled.map_or(labels::role(object.role), |person| person.role)),
            role_confidence: Set(labelled.map_or(f64::from(object.role_confidence), |_| 1.0)),
            child_id: Set(labelled.and_then(|person| person.child_id)),
            first_seen_ms: Set(object.first_seen_ms),
            last_seen_ms: Set(object.last_seen_ms),
            samples: Set(Some(count(object.faces.samples))),
            face_samples: Set(Some(count(object.faces.with_face))),
            usable_face_samples: Set(Some(count(object.faces.usable))),
            faces_too_small: Set(Some(count(object.faces.too_small))),
            faces_uncertain: Set(Some(count(object.faces.uncertain))),
            faces_blurred: Set(Some(count(object.faces.blurred))),
            faces_turned_away: Set(Some(count(object.faces.turned_away))),
        };
        if previous.is_some() {
            // The same id: an UPDATE of every column above.
            row.update(txn).await?;
        } else {
            new_people.push(row);
        }
        // The model's proposal, not yet reviewed, for either kind of label.
        macro_rules! proposed {
            ($module:ident, $label:ident, $value:expr, $interval:expr) => {
                $module::Model {
                    id: Uuid::now_v7(),
                    object_id,
                    $label: $value,
                    start_ms: $interval.start_ms,
                    end_ms: $interval.end_ms,
                    mean_confidence: f64::from($interval.mean_confidence),
                    peak_confidence: f64::from($interval.peak_confidence),
                    source: IntervalSource::Model,
                    review: None,
                    model_label: None,
                    model_start_ms: None,
                    model_end_ms: None,
                    coded_by: None,
                    reviewed_by: None,
                    reviewed_at: None,
                    samples: Some(count($interval.samples)),
                }
            };
        }
        for interval in &object.emotion_intervals {
            emotions.push(proposed!(emotion_interval, emotion, labels::emotion(interval.label), interval));
        }
        for interval in &object.behaviour_intervals {
            behaviours.push(proposed!(behaviour_interval, behaviour, labels::behaviour(interval.label), interval));
        }
    }
    let person_label = |id: Uuid| old_people.iter().find(|person| person.id == id).map(|p| p.label.clone());
    let emotions = keep_reviews(old_emotions, emotions, "EMOTION", &person_label, &mut report);
    let behaviours = keep_reviews(old_behaviours, behaviours, "BEHAVIOUR", &person_label, &mut report);
    for chunk in new_people.chunks(CHUNK) {
        tracked_object::Entity::insert_many(chunk.to_vec()).exec(txn).await?;
    }
    for chunk in emotions.chunks(CHUNK) {
        let rows = chunk.iter().cloned().map(IntoActiveModel::into_active_model);
        emotion_interval::Entity::insert_many(rows).exec(txn).await?;
    }
    for chunk in behaviours.chunks(CHUNK) {
        let rows = chunk.iter().cloned().map(IntoActiveModel::into_active_model);
        behaviour_interval::Entity::insert_many(rows).exec(txn).await?;
    }
    // A reviewed session whose proposals changed needs reviewing again; another video's results
    // were never reviewed.
    let state = match session.review_state {
        _ if video_changed => ReviewState::NotReviewed,
        ReviewState::Reviewed if report.model_intervals_changed > 0 || report.reviews_dropped > 0 => {
            ReviewState::InReview
        }
        state => state,
    };
    let analysed = session.video_sha256.clone();
    let mut row = session.into_active_model();
    row.analysed_video_sha256 = Set(analysed);
    row.review_state = Set(state);
    row.update(txn).await?;
    Ok(report)
}

/// The new model rows, each that repeats an old reviewed proposal taking over the old row's id
/// and review; counts what changed into `report`.
fn keep_reviews<M: Reviewable + LabelName>(
    old: Vec<M>,
    new: Vec<M>,
    kind: &str,
    person_label: &impl Fn(Uuid) -> Option<String>,
    report: &mut CarryOver,
) -> Vec<M> {
    let old: Vec<M> = old.into_iter().filter(|row| row.coding().source == IntervalSource::Model).collect();
    let proposal = |row: &M| -> Proposal<M::Label> {
        let (label, start, end) = row.coding().proposal();
        (row.object_id(), label, start, end)
    };
    let old_proposals: Vec<_> = old.iter().map(proposal).collect();
    let new_proposals: Vec<_> = new.iter().map(proposal).collect();
    let repeats = carry_over::repeated(&old_proposals, &new_proposals);
    let mut carried = vec![false; old.len()];
    let rows = new
        .into_iter()
        .zip(&repeats)
        .map(|(row, repeat)| match repeat {
            Some(index) => {
                carried[*index] = true;
                report.model_intervals_unchanged += 1;
                // Same proposal: the old row (its id, review, the counsellor's changes) stays,
                // with the new analysis's confidences.
                row.with_review_of(&old[*index])
            }
            None => {
                report.model_intervals_changed += 1;
                row
            }
        })
        .collect();
    for (row, kept) in old.iter().zip(carried) {
        let review = row.coding().review;
        match (kept, review) {
            (true, Some(_)) => report.reviews_kept += 1,
            (true, None) => {}
            (false, review) => {
                report.model_intervals_gone += 1;
                if let Some(review) = review {
                    report.reviews_dropped += 1;
                    if report.dropped.len() < carry_over::MAX_LISTED {
                        let (label, start_ms, end_ms) = row.coding().proposal();
                        report.dropped.push(DroppedReview {
                            kind: kind.to_owned(),
                            person: person_label(row.object_id()).unwrap_or_default(),
                            label: M::label_name(label).to_owned(),
                            start_ms,
                            end_ms,
                            review,
                        });
                    }
                }
            }
        }
    }
    rows
}

/// What [`keep_reviews`] needs beyond [`Reviewable`].
pub trait LabelName: Reviewable {
    fn label_name(label: Self::Label) -> &'static str;
    /// This new row with `old`'s id and review (and the counsellor's label and boundaries).
    fn with_review_of(self, old: &Self) -> Self;
}

macro_rules! label_name {
    ($module:ident) => {
        impl LabelName for $module::Model {
            fn label_name(label: Self::Label) -> &'static str {
                label.as_str()
            }

            fn with_review_of(self, old: &Self) -> Self {
                $module::Model {
                    mean_confidence: self.mean_confidence,
                    peak_confidence: self.peak_confidence,
                    samples: self.samples,
                    ..old.clone()
                }
            }
        }
    };
}

label_name!(emotion_interval);
label_name!(behaviour_interval);
