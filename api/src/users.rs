//! Creating organisations and users: shared by `imind create-user`, the demo seed and the
//! `createUser` mutation, so all of them validate and hash the same way.

use chrono::Utc;
use entity::{enums::Role, organisation, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionSession,
    TransactionTrait,
};
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

/// The organisation with this name, created if missing. Inserted in a savepoint, so that a
/// concurrent creation of the same name (the unique index refuses ours) leaves an enclosing
/// transaction usable and we take theirs.
/// How long a new organisation keeps videos after their analysis, until an admin says otherwise.
pub const DEFAULT_VIDEO_RETENTION_DAYS: i32 = 30;

/// The organisation of this name, which must exist.
pub async fn find_organisation(db: &impl ConnectionTrait, name: &str) -> anyhow::Result<organisation::Model> {
    organisation::Entity::find()
        .filter(organisation::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no organisation is named {name:?}"))
}

pub async fn ensure_organisation<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    name: &str,
) -> ApiResult<organisation::Model> {
    let name = Label::parse("an organisation name", name, 200)?.into_inner();
    let existing = || organisation::Entity::find().filter(organisation::Column::Name.eq(&name)).one(db);
    if let Some(organisation) = existing().await? {
        return Ok(organisation);
    }
    let savepoint = crate::db::begin_write(db).await?;
    let row = organisation::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.clone()),
        created_at: Set(Utc::now()),
        video_retention_days: Set(Some(DEFAULT_VIDEO_RETENTION_DAYS)),
        child_retention_days: Set(None),
        trusted_documents_only: Set(false),
        guardians_see_reviewed_only: Set(false),
    };
    match row.insert(&savepoint).await {
        Ok(organisation) => {
            savepoint.commit().await?;
            Ok(organisation)
        }
        Err(error) if crate::db::is_unique_violation(&error) => {
            savepoint.rollback().await?;
            existing().await?.ok_or_else(|| error.into())
        }
        Err(error) => Err(error.into()),
    }
}

/// The account a sign-in with this e-mail address means: the one in `organisation` (by name)
/// if given, else the address's first account. One account, so that a sign-in costs one
/// password check whatever the address has elsewhere (several side by side would show in the
/// time it takes).
pub async fn account_for_sign_in(
    db: &impl ConnectionTrait,
    email: &str,
    organisation: Option<&str>,
) -> ApiResult<Option<user::Model>> {
    let mut query = user::Entity::find().filter(user::Column::Email.eq(email));
    if let Some(name) = organisation {
        query = query.inner_join(organisation::Entity).filter(organisation::Column::Name.eq(name));
    }
    Ok(query.order_by_asc(user::Column::CreatedAt).order_by_asc(user::Column::Id).one(db).await?)
}

/// Adds a user. The unique index on (organisation, e-mail) decides whether the address is
/// taken; an account with the same address in another organisation is no business of this
/// one and does not stop it.
pub async fn create_user(db: &impl ConnectionTrait, organisation_id: Uuid, new: NewUser) -> ApiResult<user::Model> {
    let password_hash = password::hash(new.password.into_inner()).await?;
    let row = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        organisation_id: Set(organisation_id),
        email: Set(new.email.as_str().to_owned()),
        name: Set(new.name.into_inner()),
        password_hash: Set(password_hash),
        role: Set(new.role),
        created_at: Set(Utc::now()),
    };
    row.insert(db).await.map_err(|error| {
        if crate::db::is_unique_violation(&error) {
            ApiError::bad_input(format!(
                "a user with e-mail {} already exists in this organisation",
                new.email.as_str()
            ))
        } else {
            error.into()
        }
    })
}
