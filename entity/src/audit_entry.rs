use sea_orm::entity::prelude::*;

/// One entry of the append-only access audit log: who read or changed what, when, from where.
/// Entries name children, sessions and users by id only, and outlive them (no foreign keys).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// UUIDv7: entries sort in the order they were made.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub at: DateTimeUtc,
    pub organisation_id: Option<Uuid>,
    /// `user:<uuid>`, or `system` for the server's own work.
    pub actor: String,
    pub actor_user_id: Option<Uuid>,
    pub role: Option<String>,
    pub action: String,
    pub child_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub operation_name: Option<String>,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
