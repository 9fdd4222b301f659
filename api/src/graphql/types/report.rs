//! What a report page draws of one tracked person, computed by the server (`crate::reports`).

use async_graphql::SimpleObject;
use entity::enums::Emotion;

use crate::reports::{self, Ordered};

/// How much of some time one label took. Expression labels are facial expressions as the
/// model observed them, not what the person felt.
#[derive(SimpleObject)]
pub struct LabelShare {
    /// An `Emotion` or `Behaviour` value, e.g. `HAPPY` or `STANDING`.
    pub label: String,
    /// 0..1 of the time this share is of (see the field that holds it).
    pub share: f64,
    pub seconds: f64,
}

impl LabelShare {
    fn all<L: Ordered + LabelName>(shares: Vec<reports::Share<L>>) -> Vec<LabelShare> {
        shares
            .into_iter()
            .map(|share| LabelShare {
                label: share.label.name().to_owned(),
                share: share.share,
                seconds: share.seconds,
            })
            .collect()
    }
}

/// A label's GraphQL spelling.
pub trait LabelName {
    fn name(self) -> &'static str;
}

impl LabelName for Emotion {
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl LabelName for entity::enums::Behaviour {
    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// One tracked person's figures over the whole session.
#[derive(SimpleObject)]
pub struct PersonSummary {
    /// Each observed expression's share of the time a face was read (seen clearly enough to
    /// pass the quality bar, see `TrackedObject.faceQuality`; they add up to 1), in the
    /// order of `Emotion`; expressions never observed are left out.
    pub expression_shares: Vec<LabelShare>,
    /// Each behaviour's share of the time the body was tracked; behaviours may overlap
    /// (standing while raising a hand), so they may add up to more than 1.
    pub behaviour_shares: Vec<LabelShare>,
    /// The expression observed longest (a tie: the first in `Emotion`'s order); null when no
    /// face was read.
    pub dominant_expression: Option<Emotion>,
    /// How often the observed expression changed from one interval to the next.
    pub expression_changes: i32,
    /// How long the person's expression was observed: the time covered by expression
    /// intervals (faces seen but below the quality bar do not count; see `faceQuality`).
    pub face_visible_seconds: f64,
}

impl From<reports::Summary> for PersonSummary {
    fn from(summary: reports::Summary) -> Self {
        Self {
            expression_shares: LabelShare::all(summary.expressions),
            behaviour_shares: LabelShare::all(summary.behaviours),
            dominant_expression: summary.dominant_expression,
            expression_changes: i32::try_from(summary.expression_changes).unwrap_or(i32::MAX),
            face_visible_seconds: summary.face_visible_seconds,
        }
    }
}

/// One bin of a person's timeline: the share of the bin's length each expression and behaviour
/// took (the rest of the bin the face, or the body, was not seen).
#[derive(SimpleObject)]
pub struct TimelineBin {
    pub start_ms: i32,
    /// Exclusive; the last bin ends where the person was last seen.
    pub end_ms: i32,
    pub expressions: Vec<LabelShare>,
    pub behaviours: Vec<LabelShare>,
}

impl From<reports::Bin> for TimelineBin {
    fn from(bin: reports::Bin) -> Self {
        Self {
            start_ms: i32::try_from(bin.start_ms).unwrap_or(i32::MAX),
            end_ms: i32::try_from(bin.end_ms).unwrap_or(i32::MAX),
            expressions: LabelShare::all(bin.expressions),
            behaviours: LabelShare::all(bin.behaviours),
        }
    }
}
