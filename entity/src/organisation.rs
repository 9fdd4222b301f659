use sea_orm::entity::prelude::*;

/// A counselling practice. Nothing is ever visible across organisations.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organisations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    pub created_at: DateTimeUtc,
    /// Days a video is kept after its analysis is DONE (`None`: kept until deleted).
    pub video_retention_days: Option<i32>,
    /// Days everything of a child is kept after their last session (`None`: until erased).
    pub child_retention_days: Option<i32>,
    /// Whether the organisation's API keys may run only its trusted documents.
    pub trusted_documents_only: bool,
    /// Whether guardians see only the sessions a counsellor has marked REVIEWED.
    pub guardians_see_reviewed_only: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
