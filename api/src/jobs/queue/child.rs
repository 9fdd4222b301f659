//! What withdrawing consent does to a child's jobs and results, inside the withdrawal's
//! transaction (see `consents`), and the check a worker makes before it starts.

use chrono::Utc;
use entity::{
    analysis_job,
    enums::{ConsentKind, JobStage, JobStatus, ReviewState, SessionStatus},
    session, tracked_object,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, sea_query::Expr};
use uuid::Uuid;

use super::{Queue, clear_lease, set_session_status, settled_status};
use crate::sql;

impl Queue {
    /// Cancels every queued or running job of `child_id`'s sessions inside `txn` (consent was
    /// withdrawn), announcing each; their workers stop as on `cancel`.
    pub async fn cancel_all_of_child(
        &self,
        txn: &impl ConnectionTrait,
        child_id: Uuid,
    ) -> Result<Vec<analysis_job::Model>, sea_orm::DbErr> {
        let cancelled = clear_lease(analysis_job::Entity::update_many())
            .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Cancelled.as_str()))
            .col_expr(analysis_job::Column::Stage, Expr::value(JobStage::Cancelled.as_str()))
            .col_expr(analysis_job::Column::FinishedAt, Expr::value(Utc::now()))
            .filter(analysis_job::Column::SessionId.in_subquery(sessions_of(child_id)))
            .filter(analysis_job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
            .exec_with_returning(txn)
            .await?;
        for job in &cancelled {
            let status = settled_status(txn, job.session_id).await?;
            set_session_status(txn, job.session_id, status).await?;
            self.announce(txn, job).await;
        }
        Ok(cancelled)
    }

    /// Deletes the analysis results of `child_id`'s sessions inside `txn` (consent to
    /// automated analysis was withdrawn): their sessions are READY again, or UPLOADING
    /// without a video. Jobs stay as history. Cancel the child's jobs first.
    pub async fn erase_results_of_child(
        &self,
        txn: &impl ConnectionTrait,
        child_id: Uuid,
    ) -> Result<(), sea_orm::DbErr> {
        // Intervals go with their objects (foreign keys cascade).
        tracked_object::Entity::delete_many()
            .filter(tracked_object::Column::SessionId.in_subquery(sessions_of(child_id)))
            .exec(txn)
            .await?;
        // What was derived from the results (cached intervals, pictures) is of older versions.
        session::Entity::update_many()
            .col_expr(session::Column::ResultsVersion, Expr::col(session::Column::ResultsVersion).add(1))
            .col_expr(session::Column::ReviewState, Expr::value(ReviewState::NotReviewed.as_str()))
            .col_expr(session::Column::ReviewStateBy, Expr::value(Option::<Uuid>::None))
            .col_expr(session::Column::ReviewStateAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .col_expr(session::Column::AnalysedVideoSha256, Expr::value(Option::<String>::None))
            .filter(session::Column::ChildId.eq(child_id))
            .exec(txn)
            .await?;
        for (has_video, status) in [(true, SessionStatus::Ready), (false, SessionStatus::Uploading)] {
            let video = if has_video {
                session::Column::VideoBlobKey.is_not_null()
            } else {
                session::Column::VideoBlobKey.is_null()
            };
            session::Entity::update_many()
                .col_expr(session::Column::Status, Expr::value(status.as_str()))
                .col_expr(session::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(session::Column::ChildId.eq(child_id))
                .filter(session::Column::Status.is_in([SessionStatus::Done, SessionStatus::Failed]))
                .filter(video)
                .exec(txn)
                .await?;
        }
        Ok(())
    }

    /// Whether `job`'s child allows automated analysis now. A worker asks before it starts:
    /// a job queued while consent was being withdrawn must not run.
    pub async fn consented(&self, job: &analysis_job::Model) -> Result<bool, sea_orm::DbErr> {
        let text = "SELECT COUNT(*) AS n FROM consents c JOIN sessions s ON s.child_id = c.child_id \
                    WHERE s.id = ? AND c.kind = ? AND c.withdrawn_at IS NULL";
        let values = [job.session_id.into(), ConsentKind::AutomatedAnalysis.as_str().into()];
        let row = self.db.query_one_raw(sql::statement(self.db.get_database_backend(), text, values.into())).await?;
        Ok(row.map(|row| row.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0)
    }
}

/// The ids of `child_id`'s sessions, as a subquery.
fn sessions_of(child_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::QuerySelect;
    sea_orm::QueryTrait::into_query(
        session::Entity::find().select_only().column(session::Column::Id).filter(session::Column::ChildId.eq(child_id)),
    )
}
