//! The organisation's coding scheme: admins define and retire its codes (rules:
//! `review::codes`).

use async_graphql::{Context, ID, Object};
use chrono::Utc;
use entity::{behaviour_code, enums::CodeKind};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::{
    access::{self, OrganisationAction},
    audit::{self, AuditAction},
    error::{ApiError, ApiResult},
    graphql::{
        context::ContextExt,
        ids::{self, Kind},
        types::BehaviourCode,
    },
    review::codes,
};

#[derive(Default)]
pub struct CodingMutation;

#[Object]
impl CodingMutation {
    /// Adds a code to the organisation's coding scheme: `name` (unique, none of the built-in
    /// labels), `kind` `STATE` (with a duration) or `POINT` (an instant), an optional
    /// mutually exclusive `group` (a person is in at most one of its states at a time) and a
    /// `description`. Admins only.
    async fn define_behaviour_code(
        &self,
        ctx: &Context<'_>,
        name: String,
        kind: CodeKind,
        group: Option<String>,
        description: Option<String>,
    ) -> ApiResult<BehaviourCode> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageCodingScheme)?;
        let name = codes::check_code_name(&name)?;
        let group = group.map(|group| codes::check_name("group", &group)).transpose()?;
        let description = description.map(|text| text.trim().to_owned()).filter(|text| !text.is_empty());
        if description.as_ref().is_some_and(|text| text.chars().count() > codes::MAX_DESCRIPTION_CHARS) {
            return Err(ApiError::bad_input(format!(
                "a code's description has at most {} characters",
                codes::MAX_DESCRIPTION_CHARS
            )));
        }
        let state = ctx.state();
        let txn = crate::db::begin_write(&state.db).await?;
        // Counted under the organisation's lock, so racing admins can't pass the bound.
        crate::db::lock_organisation(&txn, viewer.organisation_id).await?;
        let defined = behaviour_code::Entity::find()
            .filter(behaviour_code::Column::OrganisationId.eq(viewer.organisation_id))
            .count(&txn)
            .await?;
        if defined >= codes::MAX_CODES {
            return Err(ApiError::bad_input(format!("an organisation has at most {} codes", codes::MAX_CODES)));
        }
        let inserted = behaviour_code::ActiveModel {
            id: Set(Uuid::now_v7()),
            organisation_id: Set(viewer.organisation_id),
            name_key: Set(codes::name_key(&name)),
            name: Set(name.clone()),
            kind: Set(kind),
            exclusive_group: Set(group),
            description: Set(description),
            created_by: Set(viewer.user_id),
            created_at: Set(Utc::now()),
            retired_at: Set(None),
        }
        .insert(&txn)
        .await;
        let code = match inserted {
            Ok(code) => code,
            // The unique index decides between racing admins, not a look first.
            Err(error) if crate::db::is_unique_violation(&error) => {
                return Err(ApiError::bad_input(format!("the organisation already has a code named `{name}`")));
            }
            Err(error) => return Err(error.into()),
        };
        audit::append(&txn, ctx.audit_entry(AuditAction::CodeDefine)?).await?;
        txn.commit().await?;
        Ok(BehaviourCode(code))
    }

    /// Retires a code (`retired: false` brings it back; omitted or null, it retires): intervals coded with it keep it, new
    /// ones may not use it. Admins only.
    async fn retire_behaviour_code(
        &self,
        ctx: &Context<'_>,
        id: ID,
        retired: Option<bool>,
    ) -> ApiResult<BehaviourCode> {
        let viewer = ctx.viewer()?;
        let uuid = ids::decode_as(&id, Kind::BehaviourCode)?;
        // Another organisation's code, or a caller who may not manage codes: as if it did not exist.
        let state = ctx.state();
        let code = behaviour_code::Entity::find_by_id(uuid)
            .filter(behaviour_code::Column::OrganisationId.eq(viewer.organisation_id))
            .one(&state.db)
            .await?
            .ok_or(ApiError::NotFound)?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageCodingScheme)?;
        // Retiring a retired code keeps when it was retired.
        let retired_at = match retired.unwrap_or(true) {
            true => Some(code.retired_at.unwrap_or_else(Utc::now)),
            false => None,
        };
        let mut model = code.into_active_model();
        model.retired_at = Set(retired_at);
        let txn = crate::db::begin_write(&state.db).await?;
        let code = model.update(&txn).await?;
        audit::append(&txn, ctx.audit_entry(AuditAction::CodeRetire)?).await?;
        txn.commit().await?;
        Ok(BehaviourCode(code))
    }
}

/// The caller's organisation's coding scheme (everyone of the organisation may read it).
pub async fn coding_scheme(ctx: &Context<'_>, include_retired: bool) -> ApiResult<crate::graphql::types::CodingScheme> {
    let viewer = ctx.viewer()?;
    access::authorize_in_organisation(&viewer, OrganisationAction::ReadCodingScheme)?;
    let mut query =
        behaviour_code::Entity::find().filter(behaviour_code::Column::OrganisationId.eq(viewer.organisation_id));
    if !include_retired {
        query = query.filter(behaviour_code::Column::RetiredAt.is_null());
    }
    let mut codes = query.all(&ctx.state().db).await?;
    codes.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));
    Ok(crate::graphql::types::CodingScheme { codes })
}
