//! Coding schemes in the API: the organisation's codes, and the intervals coded with them.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{
    behaviour_code, coded_interval,
    enums::{Behaviour, CodeKind, Emotion, IntervalSource},
};
use sea_orm::Iterable;

use super::User;
use crate::{
    error::ApiResult,
    graphql::{context::ContextExt, ids::Kind, loaders::UserById},
};

pub struct BehaviourCode(pub behaviour_code::Model);

/// A code of the organisation's coding scheme, for the counsellors' own intervals
/// (`addInterval(kind: "CODE")`).
#[Object]
impl BehaviourCode {
    pub async fn id(&self) -> ID {
        Kind::BehaviourCode.id(self.0.id)
    }

    /// Unique in the organisation; the label of the intervals coded with it.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// `STATE`: an interval with a duration; `POINT`: an instant (`startMs == endMs`).
    async fn kind(&self) -> CodeKind {
        self.0.kind
    }

    /// Codes of one group are mutually exclusive: a person is in at most one of their states
    /// at a time.
    async fn group(&self) -> Option<&str> {
        self.0.exclusive_group.as_deref()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Since when new intervals may not use it (those coded before keep it).
    async fn retired_at(&self) -> Option<DateTime<Utc>> {
        self.0.retired_at
    }
}

/// What counsellors code with: the built-in labels (the default scheme, also the model's) and
/// the organisation's own codes.
pub struct CodingScheme {
    pub codes: Vec<behaviour_code::Model>,
}

#[Object]
impl CodingScheme {
    /// The built-in observed facial expressions (`addInterval(kind: "EXPRESSION")`).
    async fn expression_labels(&self) -> Vec<Emotion> {
        Emotion::iter().collect()
    }

    /// The built-in postures and movements (`addInterval(kind: "BEHAVIOUR")`).
    async fn behaviour_labels(&self) -> Vec<Behaviour> {
        Behaviour::iter().collect()
    }

    /// The organisation's own codes, by name (`addInterval(kind: "CODE")`).
    async fn codes(&self) -> Vec<BehaviourCode> {
        self.codes.iter().cloned().map(BehaviourCode).collect()
    }
}

pub struct CodedInterval(pub coded_interval::Model, pub behaviour_code::Model);

/// An interval a counsellor coded with one of the organisation's codes: a state from `startMs`
/// to `endMs`, or an instant (`startMs == endMs`) for a POINT code.
#[Object]
impl CodedInterval {
    pub async fn id(&self) -> ID {
        Kind::CodedInterval.id(self.0.id)
    }

    async fn code(&self) -> BehaviourCode {
        BehaviourCode(self.1.clone())
    }

    /// The code's name.
    async fn label(&self) -> &str {
        &self.1.name
    }

    async fn kind(&self) -> CodeKind {
        self.1.kind
    }

    /// Milliseconds from the start of the video.
    async fn start_ms(&self) -> i64 {
        self.0.start_ms
    }

    /// Milliseconds from the start of the video; exclusive (equal to `startMs` for a POINT).
    async fn end_ms(&self) -> i64 {
        self.0.end_ms
    }

    async fn duration_ms(&self) -> i64 {
        self.0.end_ms - self.0.start_ms
    }

    /// Always `COUNSELLOR`: the model proposes no codes.
    async fn source(&self) -> IntervalSource {
        IntervalSource::Counsellor
    }

    async fn coded_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(ctx.loader().load_one(UserById(self.0.coded_by)).await?.map(User))
    }

    /// Who last coded or changed it.
    async fn reviewed_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(ctx.loader().load_one(UserById(self.0.reviewed_by)).await?.map(User))
    }

    async fn reviewed_at(&self) -> DateTime<Utc> {
        self.0.reviewed_at
    }
}
