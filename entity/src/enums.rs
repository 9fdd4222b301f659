//! Closed sets of values stored as short strings. The stored spelling equals the GraphQL
//! spelling (SCREAMING_SNAKE_CASE) so SQL written by hand and API clients read the same words.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident as $gql:literal { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
        #[cfg_attr(feature = "graphql", graphql(name = $gql))]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $value)] $variant,)+
        }

        impl $name {
            /// The stored (and GraphQL) spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $value,)+ }
            }
        }
    };
}

stored_enum! {
    /// What a user may do is decided by this role (see the gateway's `access` module).
    Role as "Role" {
        /// Everything within their own organisation.
        Admin = "ADMIN",
        /// The children assigned to them.
        Counsellor = "COUNSELLOR",
        /// Read-only access to their own children's reports.
        Guardian = "GUARDIAN",
    }
}

stored_enum! {
    /// What an API key may read. A key only ever reads, and never watches videos.
    ApiKeyScope as "ApiKeyScope" {
        /// What a counsellor may read: the children, their sessions, analyses and reports, and
        /// the counsellors' notes.
        Counsellor = "COUNSELLOR",
        /// The reports only: children, sessions and analysis results, without notes.
        Reports = "REPORTS",
    }
}

stored_enum! {
    /// Where a counselling session's video and analysis stand.
    SessionStatus as "SessionStatus" {
        /// Created; no video yet (or an upload in progress).
        Uploading = "UPLOADING",
        /// A probed video is stored and can be analysed.
        Ready = "READY",
        /// An analysis job is waiting for a worker.
        Queued = "QUEUED",
        /// A worker is analysing the video.
        Processing = "PROCESSING",
        /// Results are stored.
        Done = "DONE",
        /// The last analysis failed; see the job's error.
        Failed = "FAILED",
    }
}

stored_enum! {
    /// Life cycle of one analysis job in the durable queue.
    JobStatus as "JobStatus" {
        Queued = "QUEUED",
        Running = "RUNNING",
        Done = "DONE",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
    }
}

stored_enum! {
    /// Who a tracked person appears to be. A guess from body and face size unless a counsellor
    /// labelled the object.
    ObjectRole as "ObjectRole" {
        Child = "CHILD",
        Adult = "ADULT",
        Unknown = "UNKNOWN",
    }
}

stored_enum! {
    /// An observed facial expression (FER2013 classes). It describes what a face showed, not
    /// what the person felt.
    Emotion as "Emotion" {
        Angry = "ANGRY",
        Disgust = "DISGUST",
        Fear = "FEAR",
        Happy = "HAPPY",
        Sad = "SAD",
        Surprise = "SURPRISE",
        Neutral = "NEUTRAL",
    }
}

stored_enum! {
    /// An observed posture or movement, derived from body keypoints.
    Behaviour as "Behaviour" {
        Standing = "STANDING",
        Sitting = "SITTING",
        Lying = "LYING",
        Moving = "MOVING",
        Still = "STILL",
        HandRaised = "HAND_RAISED",
        FaceCovered = "FACE_COVERED",
        Approaching = "APPROACHING",
        Withdrawing = "WITHDRAWING",
    }
}

stored_enum! {
    /// What a guardian consented to for one child.
    ConsentKind as "ConsentKind" {
        /// Recording sessions on video and storing the videos.
        Recording = "RECORDING",
        /// Analysing the videos automatically (tracked people, observed expressions and
        /// behaviour).
        AutomatedAnalysis = "AUTOMATED_ANALYSIS",
        /// Exporting the child's data for research.
        ResearchExport = "RESEARCH_EXPORT",
    }
}

stored_enum! {
    /// Who made an interval: the analysis, or a counsellor who coded it by hand.
    IntervalSource as "IntervalSource" {
        Model = "MODEL",
        Counsellor = "COUNSELLOR",
    }
}

stored_enum! {
    /// A counsellor's verdict on an interval the model proposed.
    IntervalReview as "IntervalReview" {
        /// Right as the model proposed it.
        Confirmed = "CONFIRMED",
        /// Wrong: not part of the reviewed view.
        Rejected = "REJECTED",
        /// Right after the counsellor changed its label or boundaries (the model's are kept).
        Changed = "CHANGED",
    }
}

stored_enum! {
    /// How far a counsellor has reviewed a session's analysis.
    ReviewState as "ReviewState" {
        NotReviewed = "NOT_REVIEWED",
        InReview = "IN_REVIEW",
        Reviewed = "REVIEWED",
    }
}

/// Where a job is within its life cycle, as `AnalysisJob.stage` says it (a `String` in the API,
/// so new stages never break clients). Stored in its lower-case spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum JobStage {
    /// Waiting for a worker.
    #[sea_orm(string_value = "queued")]
    #[serde(rename = "queued")]
    Queued,
    /// Claimed; the worker is fetching the video and loading the models.
    #[sea_orm(string_value = "starting")]
    #[serde(rename = "starting")]
    Starting,
    /// Going through the frames.
    #[sea_orm(string_value = "analysing")]
    #[serde(rename = "analysing")]
    Analysing,
    /// Every frame analysed (results being stored), or the job has ended DONE.
    #[sea_orm(string_value = "done")]
    #[serde(rename = "done")]
    Done,
    /// An attempt failed; queued again after a back-off.
    #[sea_orm(string_value = "waiting to retry")]
    #[serde(rename = "waiting to retry")]
    WaitingToRetry,
    #[sea_orm(string_value = "failed")]
    #[serde(rename = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    #[serde(rename = "cancelled")]
    Cancelled,
}

impl JobStage {
    /// The stored (and API) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Starting => "starting",
            Self::Analysing => "analysing",
            Self::Done => "done",
            Self::WaitingToRetry => "waiting to retry",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

stored_enum! {
    /// How a code of an organisation's coding scheme is observed.
    CodeKind as "CodeKind" {
        /// A state with a duration ("playing alone" from 1:02 to 1:40).
        State = "STATE",
        /// An event at an instant ("looks at counsellor" at 1:05).
        Point = "POINT",
    }
}
