use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

use entity::{
    enums::{ObjectRole, ReviewState, SessionStatus},
    session, tracked_object,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{Agreement, AnalysisJob, Child, SessionMarker, TrackedObject, User};
use crate::{
    access::{self, ChildAction},
    audit::AuditAction,
    error::{ApiError, ApiResult},
    graphql::{
        context::ContextExt,
        ids,
        ids::Kind,
        loaders::{
            BehavioursOfSession, ChildById, EmotionsOfSession, LastAnalysedAt, LatestJob, MarkersOfSession, ObjectList,
            OrganisationById, PageKey, UserById,
        },
        pagination::{Listing, Page, PageRequest, PagedConnection, connection_cost, into_connection},
    },
    retention,
    review::{
        IntervalView, Reviewable,
        agreement::{self, Coded},
    },
};

pub struct Session(pub session::Model);

impl Session {
    /// A link to one of the session's files for the caller; none until the session is analysed.
    fn file_link(&self, ctx: &Context<'_>, file: crate::report_files::SessionFile) -> ApiResult<Option<String>> {
        let viewer = ctx.viewer()?;
        if self.0.status != entity::enums::SessionStatus::Done {
            return Ok(None);
        }
        let path_id = Kind::Session.id(self.0.id);
        Ok(Some(crate::report_files::session_link(ctx.state(), self.0.id, path_id.as_str(), file, &viewer)))
    }
}

/// A recorded counselling session with one child.
#[Object]
impl Session {
    pub async fn id(&self) -> ID {
        Kind::Session.id(self.0.id)
    }

    async fn child(&self, ctx: &Context<'_>) -> ApiResult<Child> {
        let child = ctx.loader().load_one(ChildById(self.0.child_id)).await?;
        child.map(Child).ok_or(ApiError::NotFound)
    }

    async fn counsellor(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let user = ctx.loader().load_one(UserById(self.0.counsellor_id)).await?;
        user.map(User).ok_or(ApiError::NotFound)
    }

    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    /// Counsellors' notes; not shown to guardians.
    async fn notes(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        let viewer = ctx.viewer()?;
        Ok(if access::allows(&viewer, ChildAction::ReadNotes) { self.0.notes.as_deref() } else { None })
    }

    async fn status(&self) -> SessionStatus {
        self.0.status
    }

    /// The stored video's metadata, once one is uploaded.
    async fn video(&self) -> Option<VideoInfo> {
        let s = &self.0;
        Some(VideoInfo {
            size_bytes: s.video_size_bytes?,
            sha256: s.video_sha256.clone()?,
            duration_ms: s.video_duration_ms?,
            fps: s.video_fps?,
            width: s.video_width?,
            height: s.video_height?,
        })
    }

    /// A short-lived link to watch or download the video (presigned, expires after a few
    /// minutes). Counsellors and admins only; null until a video is stored.
    async fn video_url(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        let viewer = ctx.viewer()?;
        if !access::allows(&viewer, ChildAction::WatchVideo) {
            return Err(ApiError::Forbidden);
        }
        let Some(key) = &self.0.video_blob_key else { return Ok(None) };
        ctx.audit_read(AuditAction::VideoWatch, self.0.child_id, Some(self.0.id))?;
        let state = ctx.state();
        let ttl = std::time::Duration::from_secs(state.settings.video_url_ttl_secs);
        Ok(Some(state.blobs.presign_get(key, ttl).await?.url))
    }

    /// A short-lived link (valid `IMIND_VIDEO_URL_TTL_SECS`) to this session's intervals as CSV,
    /// `GET /sessions/{id}/intervals.csv`: one row per interval of every person (person, role,
    /// kind, label, start, end, confidences), for spreadsheets, R and pandas. The link carries
    /// the caller's rights, checked again when it is used. Null until the session is analysed
    /// (`DONE`).
    async fn intervals_csv_url(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        self.file_link(ctx, crate::report_files::SessionFile::IntervalsCsv)
    }

    /// A short-lived link to the session's timeline picture as SVG (`GET
    /// /sessions/{id}/timeline.svg`; `.png` with the same query string for a bitmap): per person,
    /// their observed expressions and behaviours on one time axis, the child marked. It carries
    /// the caller's rights, checked again when it is used. Null until the session is analysed.
    async fn timeline_url(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        self.file_link(ctx, crate::report_files::SessionFile::TimelineSvg)
    }

    /// A short-lived link to the session's coding as ELAN-compatible tab-delimited text (`GET
    /// /sessions/{id}/coding.tsv`): one row per annotation of the reviewed view (tier = person
    /// × kind) with its source and review, and the markers as points. Like `intervalsCsvUrl`.
    async fn coding_tsv_url(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        self.file_link(ctx, crate::report_files::SessionFile::CodingTsv)
    }

    /// Until when the video is kept: its organisation's `videoDaysAfterAnalysis` after its
    /// last analysis finished. Null while there is no video or no finished analysis, or when
    /// the organisation keeps videos until they are deleted.
    async fn video_retained_until(&self, ctx: &Context<'_>) -> ApiResult<Option<DateTime<Utc>>> {
        if self.0.video_blob_key.is_none() {
            return Ok(None);
        }
        let Some(analysed_at) = ctx.loader().load_one(LastAnalysedAt(self.0.id)).await? else { return Ok(None) };
        let child = ctx.loader().load_one(ChildById(self.0.child_id)).await?.ok_or(ApiError::NotFound)?;
        let organisation =
            ctx.loader().load_one(OrganisationById(child.organisation_id)).await?.ok_or(ApiError::NotFound)?;
        Ok(organisation.video_retention_days.map(|days| retention::video_retained_until(analysed_at, days)))
    }

    /// The most recent analysis of this session's video.
    async fn latest_job(&self, ctx: &Context<'_>) -> ApiResult<Option<AnalysisJob>> {
        Ok(ctx.loader().load_one(LatestJob(self.0.id)).await?.map(|job| AnalysisJob(job.into())))
    }

    /// The people found in the video, in order of first appearance.
    #[graphql(complexity = "connection_cost(first, last, ObjectList::DEFAULT_PAGE_SIZE, child_complexity)")]
    async fn objects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        role: Option<ObjectRole>,
    ) -> ApiResult<PagedConnection<TrackedObject>> {
        let page = PageRequest::new(first, after, last, before, ObjectList::DEFAULT_PAGE_SIZE)?;
        let key = PageKey { parent: self.0.id, listing: ObjectList { role }, page };
        let loaded = ctx.loader().load_one(key).await?.unwrap_or_else(Page::empty);
        let version = self.0.results_version;
        Ok(into_connection::<ObjectList, _>(loaded, |row| TrackedObject(row, Some(version))))
    }

    /// How far a counsellor has reviewed the analysis (`setReviewState`; the first review
    /// change moves a session from `NOT_REVIEWED` to `IN_REVIEW`).
    async fn review_state(&self) -> ReviewState {
        self.0.review_state
    }

    /// Who set the review state, and when.
    async fn reviewed_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(user) = self.0.review_state_by else { return Ok(None) };
        Ok(ctx.loader().load_one(UserById(user)).await?.map(User))
    }

    async fn reviewed_at(&self) -> Option<DateTime<Utc>> {
        self.0.review_state_at
    }

    /// Timestamped notes (`addSessionMarker`), by time.
    async fn markers(&self, ctx: &Context<'_>) -> ApiResult<Vec<SessionMarker>> {
        let markers = ctx.loader().load_one(MarkersOfSession(self.0.id)).await?.unwrap_or_default();
        Ok(markers.into_iter().map(SessionMarker).collect())
    }

    /// Agreement per label between two codings of this session: by default the model's (model
    /// view) and the counsellors' (reviewed view); with `coders: [a, b]`, the intervals
    /// counsellor a coded and those counsellor b coded. Time-based Cohen's kappa on bins of
    /// `binMs` (default 100) per person, and event agreement of onsets within `toleranceMs`
    /// (default 2000). Labels either coding used, expressions then behaviours. Not for guardians
    /// or `REPORTS` keys (`FORBIDDEN`), like the model view.
    #[graphql(complexity = "agreement::cost(bin_ms.map(i64::from))")]
    async fn agreement(
        &self,
        ctx: &Context<'_>,
        bin_ms: Option<i32>,
        tolerance_ms: Option<i32>,
        coders: Option<Vec<ID>>,
    ) -> ApiResult<Vec<Agreement>> {
        // It compares with the model view: the counsellors' to see, like their notes.
        if !access::allows(&ctx.viewer()?, ChildAction::ReadNotes) {
            return Err(ApiError::Forbidden);
        }
        let coders = match coders.as_deref() {
            None => None,
            Some([first, second]) => Some((ids::decode_as(first, Kind::User)?, ids::decode_as(second, Kind::User)?)),
            Some(_) => return Err(ApiError::bad_input("`coders` names exactly two counsellors")),
        };
        let (session, version) = (self.0.id, self.0.results_version);
        let loader = ctx.loader();
        let emotions = match loader.loader().intervals.emotions.get(session, version) {
            Some(entry) => entry,
            None => loader.load_one(EmotionsOfSession { session, version }).await?.expect(LOADED),
        };
        let behaviours = match loader.loader().intervals.behaviours.get(session, version) {
            Some(entry) => entry,
            None => loader.load_one(BehavioursOfSession { session, version }).await?.expect(LOADED),
        };
        let (first, second) = match coders {
            None => (
                codings(emotions.all(), IntervalView::Model, None, |label| label.as_str())
                    .chain(codings(behaviours.all(), IntervalView::Model, None, |label| label.as_str()))
                    .collect::<Vec<_>>(),
                codings(emotions.all(), IntervalView::Reviewed, None, |label| label.as_str())
                    .chain(codings(behaviours.all(), IntervalView::Reviewed, None, |label| label.as_str()))
                    .collect::<Vec<_>>(),
            ),
            // Two counsellors' codings include the organisation's codes (the model has none).
            Some((a, b)) => {
                let db = &ctx.state().db;
                let people: Vec<Uuid> = tracked_object::Entity::find()
                    .select_only()
                    .column(tracked_object::Column::Id)
                    .filter(tracked_object::Column::SessionId.eq(session))
                    .into_tuple()
                    .all(db)
                    .await?;
                let coded = crate::report_files::coded_rows(db, &people).await?;
                let codes_of = |coder: Uuid| {
                    coded.iter().filter(move |(row, _)| row.coded_by == coder).map(|(row, code)| Coded {
                        person: row.object_id,
                        label: Cow::Owned(code.name.clone()),
                        start_ms: row.start_ms,
                        end_ms: row.end_ms,
                    })
                };
                (
                    codings(emotions.all(), IntervalView::Reviewed, Some(a), |label| label.as_str())
                        .chain(codings(behaviours.all(), IntervalView::Reviewed, Some(a), |label| label.as_str()))
                        .chain(codes_of(a))
                        .collect(),
                    codings(emotions.all(), IntervalView::Reviewed, Some(b), |label| label.as_str())
                        .chain(codings(behaviours.all(), IntervalView::Reviewed, Some(b), |label| label.as_str()))
                        .chain(codes_of(b))
                        .collect(),
                )
            }
        };
        let bin_ms = bin_ms.map_or(agreement::DEFAULT_BIN_MS, i64::from);
        let tolerance_ms = tolerance_ms.map_or(agreement::DEFAULT_TOLERANCE_MS, i64::from);
        let until_ms = self.0.video_duration_ms.unwrap_or(0);
        let found = agreement::agreement(&first, &second, bin_ms, tolerance_ms, until_ms)?;
        Ok(found.into_iter().map(Agreement::from).collect())
    }
}

/// The interval lists are always loaded for the session asked for.
const LOADED: &str = "a session's intervals are always loaded. This is a bug.";

/// The rows as `view` shows them (only those `coder` coded, when given), as codings.
fn codings<'a, M: Reviewable + 'a>(
    rows: impl Iterator<Item = &'a M> + 'a,
    view: IntervalView,
    coder: Option<Uuid>,
    name: impl Fn(M::Label) -> &'static str + 'a,
) -> impl Iterator<Item = Coded> + 'a {
    rows.filter(move |row| coder.is_none_or(|coder| row.coded_by() == Some(coder)))
        .filter_map(move |row| row.in_view(view))
        .map(move |row| {
            let coding = row.coding();
            Coded {
                person: row.object_id(),
                label: Cow::Borrowed(name(coding.label)),
                start_ms: coding.start_ms,
                end_ms: coding.end_ms,
            }
        })
}

/// Facts about a stored video, measured when it was uploaded.
#[derive(SimpleObject)]
pub struct VideoInfo {
    /// Bytes; may exceed 2³¹ (JSON numbers carry it exactly up to 2⁵³).
    pub size_bytes: i64,
    pub sha256: String,
    pub duration_ms: i64,
    pub fps: f64,
    pub width: i32,
    pub height: i32,
}
