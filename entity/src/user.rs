use sea_orm::entity::prelude::*;

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: Uuid,
    /// Stored lower-cased so look-ups are case-insensitive on every backend. Unique within
    /// the organisation (`ux_users_organisation_email`): one person may work for two.
    pub email: String,
    pub name: String,
    /// PHC string (argon2id); never leaves the gateway.
    pub password_hash: String,
    pub role: Role,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organisation::Entity",
        from = "Column::OrganisationId",
        to = "super::organisation::Column::Id"
    )]
    Organisation,
}

impl Related<super::organisation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organisation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
