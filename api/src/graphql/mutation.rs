use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};
use entity::{
    child, child_counsellor, child_guardian,
    enums::{ObjectRole, Role, SessionStatus},
    session, tracked_object, user,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::{
    context::ContextExt,
    ids::{self, Kind},
    types::{Child, Date, Session, TrackedObject, User},
};
use crate::{
    access::{self, ChildAction, OrganisationAction, Target},
    auth::{Viewer, password, refresh},
    blob,
    domain::{self, Email, Label},
    error::{ApiError, ApiResult},
    users::{self, NewUser},
    videos,
};

#[derive(Default)]
pub struct CoreMutation;

/// What a successful sign-in or refresh returns.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer …`; short-lived.
    access_token: String,
    /// Exchange with `refreshToken` for a new pair; each one works once.
    refresh_token: String,
    /// When the access token expires.
    expires_at: DateTime<Utc>,
    user: User,
}

#[derive(InputObject)]
pub struct CreateChildInput {
    name: String,
    birth_date: Option<Date>,
    notes: Option<String>,
    /// Admins only. A counsellor who creates a child is assigned to it.
    counsellor_ids: Option<Vec<ID>>,
    /// Admins only.
    guardian_ids: Option<Vec<ID>>,
}

/// Absent fields are left as they are.
#[derive(InputObject)]
pub struct UpdateChildInput {
    name: Option<String>,
    birth_date: Option<Date>,
    notes: Option<String>,
    /// Admins only; replaces the assigned counsellors.
    counsellor_ids: Option<Vec<ID>>,
    /// Admins only; replaces the linked guardians.
    guardian_ids: Option<Vec<ID>>,
}

#[derive(InputObject)]
pub struct CreateSessionInput {
    child_id: ID,
    title: String,
    recorded_at: DateTime<Utc>,
    notes: Option<String>,
}

/// Where and how to upload a video directly (without streaming it through GraphQL).
#[derive(SimpleObject)]
pub struct VideoUploadTicket {
    pub url: String,
    /// Always `PUT`.
    pub method: String,
    /// Headers the request must carry exactly.
    pub headers: Vec<HttpHeader>,
    pub expires_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    email: String,
    name: String,
    role: Role,
    /// At least 10 characters.
    password: String,
}

#[Object]
impl CoreMutation {
    /// Signs in with e-mail and password.
    async fn login(&self, ctx: &Context<'_>, email: String, password: String) -> ApiResult<AuthPayload> {
        let state = ctx.state();
        let found = match Email::parse(&email) {
            Ok(email) => user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(&state.db).await?,
            Err(_) => None,
        };
        // Verify even for unknown addresses, so timing does not tell which addresses exist.
        let verified = password::verify(password, found.as_ref().map(|user| user.password_hash.clone())).await?;
        match found {
            Some(user) if verified => issue_tokens(ctx, user, None).await,
            _ => Err(ApiError::Unauthenticated),
        }
    }

    /// Exchanges a refresh token for a new access token and a new refresh token. The old one
    /// stops working; presenting it again revokes the whole sign-in.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> ApiResult<AuthPayload> {
        let state = ctx.state();
        let (user_id, next) = refresh::rotate(&state.db, &refresh_token, state.settings.refresh_token_ttl_secs).await?;
        let user = user::Entity::find_by_id(user_id).one(&state.db).await?.ok_or(ApiError::Unauthenticated)?;
        issue_tokens(ctx, user, Some(next)).await
    }

    /// Revokes a refresh token and every token rotated from it (signs that device out).
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> ApiResult<bool> {
        refresh::revoke(&ctx.state().db, &refresh_token).await?;
        Ok(true)
    }

    /// Adds a user to the caller's organisation. Admins only.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> ApiResult<User> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageUsers)?;
        let new = NewUser::parse(&input.email, &input.name, input.role, input.password)?;
        Ok(User(users::create_user(&ctx.state().db, viewer.organisation_id, new).await?))
    }

    async fn create_child(&self, ctx: &Context<'_>, input: CreateChildInput) -> ApiResult<Child> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::CreateChild)?;
        if (input.counsellor_ids.is_some() || input.guardian_ids.is_some())
            && !access::role_allows(viewer.role, ChildAction::Assign)
        {
            return Err(ApiError::Forbidden);
        }
        let db = &ctx.state().db;
        let mut counsellors = members(db, &viewer, input.counsellor_ids.as_deref(), Role::Counsellor).await?;
        let guardians = members(db, &viewer, input.guardian_ids.as_deref(), Role::Guardian).await?;
        if viewer.role == Role::Counsellor {
            counsellors = Some(vec![viewer.user_id]);
        }
        let now = Utc::now();
        let model = child::ActiveModel {
            id: Set(Uuid::now_v7()),
            organisation_id: Set(viewer.organisation_id),
            name: Set(Label::parse("a child's name", &input.name, 200)?.into_inner()),
            birth_date: Set(input.birth_date.map(|date| date.0)),
            notes: Set(domain::notes(input.notes)?),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let txn = db.begin().await?;
        let child = model.insert(&txn).await?;
        replace_links(&txn, child.id, counsellors, guardians).await?;
        txn.commit().await?;
        Ok(Child(child))
    }

    async fn update_child(&self, ctx: &Context<'_>, id: ID, input: UpdateChildInput) -> ApiResult<Child> {
        let viewer = ctx.viewer()?;
        let db = &ctx.state().db;
        let child_id = ids::decode_as(&id, Kind::Child)?;
        access::authorize(db, &viewer, Target::Child(child_id), ChildAction::Edit).await?;
        if input.counsellor_ids.is_some() || input.guardian_ids.is_some() {
            access::authorize(db, &viewer, Target::Child(child_id), ChildAction::Assign).await?;
        }
        let counsellors = members(db, &viewer, input.counsellor_ids.as_deref(), Role::Counsellor).await?;
        let guardians = members(db, &viewer, input.guardian_ids.as_deref(), Role::Guardian).await?;
        let txn = db.begin().await?;
        let mut model =
            child::Entity::find_by_id(child_id).one(&txn).await?.ok_or(ApiError::NotFound)?.into_active_model();
        if let Some(name) = input.name {
            model.name = Set(Label::parse("a child's name", &name, 200)?.into_inner());
        }
        if let Some(date) = input.birth_date {
            model.birth_date = Set(Some(date.0));
        }
        if input.notes.is_some() {
            model.notes = Set(domain::notes(input.notes)?);
        }
        model.updated_at = Set(Utc::now());
        let child = model.update(&txn).await?;
        replace_links(&txn, child_id, counsellors, guardians).await?;
        txn.commit().await?;
        Ok(Child(child))
    }

    /// Erases a child and everything recorded about them: sessions, analyses, results, videos.
    async fn delete_child(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let viewer = ctx.viewer()?;
        let state = ctx.state();
        let child_id = ids::decode_as(&id, Kind::Child)?;
        access::authorize(&state.db, &viewer, Target::Child(child_id), ChildAction::Delete).await?;
        let keys = blob_keys(&state.db, session::Column::ChildId.eq(child_id)).await?;
        // Foreign keys cascade to sessions, jobs, tracked objects and intervals.
        let deleted = child::Entity::delete_by_id(child_id).exec(&state.db).await?;
        for key in keys {
            videos::remove_quietly(state, &key).await;
        }
        Ok(deleted.rows_affected == 1)
    }

    /// Records a new session with a child; its video is uploaded afterwards.
    async fn create_session(&self, ctx: &Context<'_>, input: CreateSessionInput) -> ApiResult<Session> {
        let viewer = ctx.viewer()?;
        let db = &ctx.state().db;
        let child_id = ids::decode_as(&input.child_id, Kind::Child)?;
        access::authorize(db, &viewer, Target::Child(child_id), ChildAction::Record).await?;
        let now = Utc::now();
        let session = session::ActiveModel {
            id: Set(Uuid::now_v7()),
            child_id: Set(child_id),
            counsellor_id: Set(viewer.user_id),
            recorded_at: Set(input.recorded_at),
            title: Set(Label::parse("a title", &input.title, 300)?.into_inner()),
            notes: Set(domain::notes(input.notes)?),
            status: Set(SessionStatus::Uploading),
            video_blob_key: Set(None),
            video_size_bytes: Set(None),
            video_sha256: Set(None),
            video_duration_ms: Set(None),
            video_fps: Set(None),
            video_width: Set(None),
            video_height: Set(None),
            video_upload_key: Set(None),
            video_upload_size: Set(None),
            video_upload_expires_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
        Ok(Session(session))
    }

    /// Erases a session and everything under it: its analyses, results and video.
    async fn delete_session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let viewer = ctx.viewer()?;
        let state = ctx.state();
        let session_id = ids::decode_as(&id, Kind::Session)?;
        access::authorize(&state.db, &viewer, Target::Session(session_id), ChildAction::Record).await?;
        let keys = blob_keys(&state.db, session::Column::Id.eq(session_id)).await?;
        // Foreign keys cascade to jobs, tracked objects and intervals.
        let deleted = session::Entity::delete_by_id(session_id).exec(&state.db).await?;
        for key in keys {
            videos::remove_quietly(state, &key).await;
        }
        Ok(deleted.rows_affected == 1)
    }

    /// Uploads a session's video through GraphQL (multipart request spec). Streamed to the
    /// store as it arrives (hashed on the way, a local copy kept for probing), never held in
    /// memory; checked to be a decodable video (`UNSUPPORTED_MEDIA` otherwise, and nothing is
    /// kept); replaces any earlier video.
    async fn upload_session_video(&self, ctx: &Context<'_>, session_id: ID, file: Upload) -> ApiResult<Session> {
        let viewer = ctx.viewer()?;
        let state = ctx.state();
        let session_id = ids::decode_as(&session_id, Kind::Session)?;
        let child_id = access::authorize(&state.db, &viewer, Target::Session(session_id), ChildAction::Record).await?;
        // The HTTP layer reads multipart requests itself and hands the file over while it
        // arrives (see `multipart`); `file` only names the part.
        let _ = file;
        let live = ctx
            .data_opt::<crate::multipart::LiveFile>()
            .ok_or_else(|| ApiError::bad_input("send the file as a GraphQL multipart request"))?;
        let session = session::Entity::find_by_id(session_id).one(&state.db).await?.ok_or(ApiError::NotFound)?;
        let key = blob::video_key(viewer.organisation_id, child_id, session_id);
        Ok(Session(videos::accept_live(state, session, live, &key).await?))
    }

    /// Starts a direct upload: returns a URL to PUT exactly `sizeBytes` bytes to (a presigned
    /// S3 URL, or one the gateway signed), valid until `expiresAt`. Then call
    /// `completeVideoUpload`.
    async fn create_video_upload(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        filename: String,
        content_type: String,
        size_bytes: i64,
    ) -> ApiResult<VideoUploadTicket> {
        let viewer = ctx.viewer()?;
        let state = ctx.state();
        let session_id = ids::decode_as(&session_id, Kind::Session)?;
        let child_id = access::authorize(&state.db, &viewer, Target::Session(session_id), ChildAction::Record).await?;
        let max = state.settings.max_upload_bytes;
        if size_bytes <= 0 {
            return Err(ApiError::UnsupportedMedia(format!("`{filename}` is empty: a video needs at least one frame")));
        }
        if size_bytes as u64 > max {
            return Err(ApiError::PayloadTooLarge(format!(
                "videos may have at most {max} bytes; this one has {size_bytes}"
            )));
        }
        let content_type =
            if content_type.trim().is_empty() { "application/octet-stream".to_owned() } else { content_type };
        let session = session::Entity::find_by_id(session_id).one(&state.db).await?.ok_or(ApiError::NotFound)?;
        let abandoned = session.video_upload_key.clone();
        let key = blob::video_key(viewer.organisation_id, child_id, session_id);
        let ttl = std::time::Duration::from_secs(state.settings.upload_url_ttl_secs);
        let signed = state.blobs.presign_put(&key, size_bytes as u64, &content_type, ttl).await?;
        let mut model = session.into_active_model();
        model.video_upload_key = Set(Some(key));
        model.video_upload_size = Set(Some(size_bytes));
        model.video_upload_expires_at = Set(Some(signed.expires_at));
        model.update(&state.db).await?;
        if let Some(abandoned) = abandoned {
            videos::remove_quietly(state, &abandoned).await;
        }
        Ok(VideoUploadTicket {
            url: signed.url,
            method: signed.method.to_owned(),
            headers: signed.headers.into_iter().map(|(name, value)| HttpHeader { name, value }).collect(),
            expires_at: signed.expires_at,
        })
    }

    /// Finishes a direct upload: checks the object is there with the announced size, that it is
    /// a decodable video, and makes it the session's video.
    async fn complete_video_upload(&self, ctx: &Context<'_>, session_id: ID) -> ApiResult<Session> {
        let viewer = ctx.viewer()?;
        let state = ctx.state();
        let session_id = ids::decode_as(&session_id, Kind::Session)?;
        access::authorize(&state.db, &viewer, Target::Session(session_id), ChildAction::Record).await?;
        let session = session::Entity::find_by_id(session_id).one(&state.db).await?.ok_or(ApiError::NotFound)?;
        let (Some(key), Some(expected)) = (session.video_upload_key.clone(), session.video_upload_size) else {
            return Err(ApiError::bad_input("no upload in progress: call createVideoUpload first"));
        };
        match state.blobs.size(&key).await? {
            None => return Err(ApiError::bad_input("nothing has been uploaded to the upload URL yet")),
            Some(size) if size != expected as u64 => {
                return Err(ApiError::bad_input(format!("{size} of the announced {expected} bytes arrived")));
            }
            Some(_) => {}
        }
        match videos::accept_stored(state, session.clone(), &key).await {
            Ok(stored) => Ok(Session(stored)),
            Err(error) => {
                // The blob is gone (refused) or unusable: the session may be uploaded again.
                let mut model = session.into_active_model();
                model.video_upload_key = Set(None);
                model.video_upload_size = Set(None);
                model.video_upload_expires_at = Set(None);
                model.update(&state.db).await?;
                Err(error)
            }
        }
    }

    /// Says who a tracked person is: their role, and optionally that they are the session's
    /// child. A counsellor's word replaces the guess (confidence 1).
    async fn label_object(
        &self,
        ctx: &Context<'_>,
        object_id: ID,
        role: ObjectRole,
        child_id: Option<ID>,
    ) -> ApiResult<TrackedObject> {
        let viewer = ctx.viewer()?;
        let db = &ctx.state().db;
        let object_id = ids::decode_as(&object_id, Kind::TrackedObject)?;
        let session_child = access::authorize(db, &viewer, Target::Object(object_id), ChildAction::Record).await?;
        let child_link = match child_id {
            None => None,
            Some(id) if ids::decode_as(&id, Kind::Child)? == session_child => Some(session_child),
            Some(_) => {
                return Err(ApiError::bad_input("a tracked person can only be linked to the session's own child"));
            }
        };
        if child_link.is_some() && role != ObjectRole::Child {
            return Err(ApiError::bad_input("a person linked to a child must have the role CHILD"));
        }
        let mut model =
            tracked_object::Entity::find_by_id(object_id).one(db).await?.ok_or(ApiError::NotFound)?.into_active_model();
        model.role = Set(role);
        model.role_confidence = Set(1.0);
        model.child_id = Set(child_link);
        Ok(TrackedObject(model.update(db).await?))
    }
}

/// Every stored or half-uploaded video of the sessions matching `filter`.
async fn blob_keys(db: &impl ConnectionTrait, filter: sea_orm::sea_query::SimpleExpr) -> ApiResult<Vec<String>> {
    let sessions = session::Entity::find().filter(filter).all(db).await?;
    Ok(sessions.into_iter().flat_map(|s| [s.video_blob_key, s.video_upload_key]).flatten().collect())
}

async fn issue_tokens(
    ctx: &Context<'_>,
    user: user::Model,
    refresh: Option<refresh::NewRefreshToken>,
) -> ApiResult<AuthPayload> {
    let state = ctx.state();
    let viewer = Viewer { user_id: user.id, organisation_id: user.organisation_id, role: user.role };
    let access = state.jwt.issue(&viewer)?;
    let refresh = match refresh {
        Some(token) => token,
        None => refresh::issue(&state.db, user.id, None, state.settings.refresh_token_ttl_secs).await?,
    };
    Ok(AuthPayload {
        access_token: access.token,
        refresh_token: refresh.token,
        expires_at: access.expires_at,
        user: User(user),
    })
}

/// Checks that every id names a user of the viewer's organisation with `role`.
async fn members(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    ids: Option<&[ID]>,
    role: Role,
) -> ApiResult<Option<Vec<Uuid>>> {
    let Some(ids) = ids else { return Ok(None) };
    let mut uuids = ids.iter().map(|id| ids::decode_as(id, Kind::User)).collect::<ApiResult<Vec<_>>>()?;
    uuids.sort();
    uuids.dedup();
    let found = user::Entity::find()
        .filter(user::Column::Id.is_in(uuids.clone()))
        .filter(user::Column::OrganisationId.eq(access::user_scope(viewer)))
        .filter(user::Column::Role.eq(role))
        .count(db)
        .await?;
    if found as usize != uuids.len() {
        return Err(ApiError::bad_input(format!("every id must name a {} of your organisation", role.as_str())));
    }
    Ok(Some(uuids))
}

/// Replaces the child's counsellor and/or guardian links (None: leave as they are).
async fn replace_links(
    db: &impl ConnectionTrait,
    child_id: Uuid,
    counsellors: Option<Vec<Uuid>>,
    guardians: Option<Vec<Uuid>>,
) -> ApiResult<()> {
    if let Some(counsellors) = counsellors {
        child_counsellor::Entity::delete_many().filter(child_counsellor::Column::ChildId.eq(child_id)).exec(db).await?;
        for user_id in counsellors {
            child_counsellor::ActiveModel { child_id: Set(child_id), user_id: Set(user_id) }.insert(db).await?;
        }
    }
    if let Some(guardians) = guardians {
        child_guardian::Entity::delete_many().filter(child_guardian::Column::ChildId.eq(child_id)).exec(db).await?;
        for user_id in guardians {
            child_guardian::ActiveModel { child_id: Set(child_id), user_id: Set(user_id) }.insert(db).await?;
        }
    }
    Ok(())
}
