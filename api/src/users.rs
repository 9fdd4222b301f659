//! Creating organisations and users: shared by `imind create-user`, the demo seed and the
//! `createUser` mutation, so all of them validate and hash the same way.

use chrono::Utc;
use entity::{enums::Role, organisation, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::{
    auth::password,
    domain::{Email, Label, Password},
    error::{ApiError, ApiResult},
};

pub struct NewUser {
    pub email: Email,
    pub name: Label,
    pub role: Role,
    pub password: Password,
}

impl NewUser {
    pub fn parse(email: &str, name: &str, role: Role, password: String) -> ApiResult<Self> {
        Ok(Self {
            email: Email::parse(email)?,
            name: Label::parse("a name", name, 200)?,
            role,
            password: Password::parse(password)?,
        })
    }
}

/// The organisation with this name, created if missing.
pub async fn ensure_organisation(db: &impl ConnectionTrait, name: &str) -> ApiResult<organisation::Model> {
    let name = Label::parse("an organisation name", name, 200)?.into_inner();
    if let Some(existing) = organisation::Entity::find().filter(organisation::Column::Name.eq(&name)).one(db).await? {
        return Ok(existing);
    }
    Ok(organisation::ActiveModel { id: Set(Uuid::now_v7()), name: Set(name), created_at: Set(Utc::now()) }
        .insert(db)
        .await?)
}

pub async fn create_user(db: &impl ConnectionTrait, organisation_id: Uuid, new: NewUser) -> ApiResult<user::Model> {
    if user::Entity::find().filter(user::Column::Email.eq(new.email.as_str())).one(db).await?.is_some() {
        return Err(ApiError::bad_input(format!("a user with e-mail {} already exists", new.email.as_str())));
    }
    let password_hash = password::hash(new.password.into_inner()).await?;
    Ok(user::ActiveModel {
        id: Set(Uuid::now_v7()),
        organisation_id: Set(organisation_id),
        email: Set(new.email.as_str().to_owned()),
        name: Set(new.name.into_inner()),
        password_hash: Set(password_hash),
        role: Set(new.role),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?)
}
