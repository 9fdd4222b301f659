use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::session_marker;

use super::User;
use crate::{
    access::{self, ChildAction},
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, ids::Kind, loaders::UserById},
    review::agreement::LabelAgreement,
};

pub struct SessionMarker(pub session_marker::Model);

/// A timestamped note in a session ("topic: school", "break"), listed in `Session.markers`.
#[Object]
impl SessionMarker {
    pub async fn id(&self) -> ID {
        Kind::SessionMarker.id(self.0.id)
    }

    /// Milliseconds from the start of the video.
    async fn at_ms(&self) -> i64 {
        self.0.at_ms
    }

    async fn code(&self) -> &str {
        &self.0.code
    }

    /// The counsellor's words; like the session's notes, not shown to guardians.
    async fn note(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        let viewer = ctx.viewer()?;
        Ok(if access::allows(&viewer, ChildAction::ReadNotes) { self.0.note.as_deref() } else { None })
    }

    async fn author(&self, ctx: &Context<'_>) -> ApiResult<User> {
        ctx.loader().load_one(UserById(self.0.author_id)).await?.map(User).ok_or(ApiError::NotFound)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// How far two codings of a session agree on one label: the model's and the counsellors'
/// (reviewed view), or two counsellors' own.
#[derive(SimpleObject)]
pub struct Agreement {
    pub label: String,
    /// Time-based Cohen's kappa on person × time bins (1: full agreement, 0: what chance
    /// gives, below 0: worse than chance).
    pub kappa: f64,
    /// Matched onsets (within the tolerance, same person) over matched plus unmatched, 0..1.
    pub event_agreement: f64,
    /// Person × bin units the kappa was computed on.
    pub bins: i64,
    /// Intervals of the label in the first coding, in the second, and matched by onset.
    pub events_first: i32,
    pub events_second: i32,
    pub events_matched: i32,
}

impl From<LabelAgreement> for Agreement {
    fn from(found: LabelAgreement) -> Self {
        Self {
            label: found.label,
            kappa: found.kappa,
            event_agreement: found.event_agreement,
            bins: found.bins,
            events_first: found.events_a as i32,
            events_second: found.events_b as i32,
            events_matched: found.events_matched as i32,
        }
    }
}
