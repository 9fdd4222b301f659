//! Sessions: recording and erasing them, their videos (uploaded through GraphQL or directly),
//! and who the people found in them are.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};
use entity::{
    child,
    enums::{ConsentKind, ObjectRole},
    session, tracked_object,
};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};

use crate::{
    access::ChildAction,
    audit::{self, AuditAction, AuditEntry},
    blob, consents,
    error::{ApiError, ApiResult},
    graphql::{
        context::ContextExt,
        guard,
        ids::{self, Kind},
        types::{Session, TrackedObject},
    },
    multipart::LiveFile,
    sessions::{self, NewSession},
};

#[derive(Default)]
pub struct SessionMutation;

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

#[Object]
impl SessionMutation {
    /// Records a new session with a child; its video is uploaded afterwards.
    async fn create_session(&self, ctx: &Context<'_>, input: CreateSessionInput) -> ApiResult<Session> {
        let viewer = ctx.viewer()?;
        let (child_id, _) = guard::authorize::<child::Entity>(ctx, &input.child_id, ChildAction::Record).await?;
        let new = NewSession::parse(child_id, viewer.user_id, input.recorded_at, &input.title, input.notes)?;
        let txn = crate::db::begin_write(&ctx.state().db).await?;
        let session = sessions::create(&txn, new).await?;
        audit::append(&txn, ctx.audit_entry(AuditAction::SessionCreate)?.child(child_id).session(session.id)).await?;
        txn.commit().await?;
        Ok(Session(session))
    }

    /// Erases a session and everything under it: its analyses, results and video.
    async fn delete_session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let (session_id, child_id) = guard::authorize::<session::Entity>(ctx, &id, ChildAction::Record).await?;
        let state = ctx.state();
        let entry = ctx.audit_entry(AuditAction::SessionDelete)?.child(child_id);
        sessions::erase(&state.db, state.blobs.as_ref(), session_id, entry).await
    }

    /// Uploads a session's video through GraphQL (multipart request spec). Streamed to the
    /// store as it arrives (hashed on the way, a local copy kept for probing), never held in
    /// memory; checked to be a decodable video (`UNSUPPORTED_MEDIA` otherwise, and nothing is
    /// kept); replaces any earlier video.
    async fn upload_session_video(&self, ctx: &Context<'_>, session_id: ID, file: Upload) -> ApiResult<Session> {
        let viewer = ctx.viewer()?;
        let session = guard::load::<session::Entity>(ctx, &session_id, ChildAction::Record).await?;
        // The HTTP layer reads multipart requests itself and hands the file over while it
        // arrives (see `multipart`); `file` only names the part.
        let _ = file;
        let live = ctx
            .data_opt::<LiveFile>()
            .ok_or_else(|| ApiError::bad_input("send the file as a GraphQL multipart request"))?;
        let key = blob::video_key(viewer.organisation_id, session.child_id, session.id);
        let entry = upload_entry(ctx, AuditAction::VideoUpload, &session.row).await?;
        Ok(Session(ctx.state().videos().audited(entry).accept_live(session.row, live, &key).await?))
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
        let session = guard::load::<session::Entity>(ctx, &session_id, ChildAction::Record).await?;
        let state = ctx.state();
        let max = state.settings.max_upload_bytes;
        if size_bytes <= 0 {
            return Err(ApiError::UnsupportedMedia(format!("`{filename}` is empty: a video needs at least one frame")));
        }
        if size_bytes as u64 > max {
            return Err(ApiError::PayloadTooLarge(format!(
                "videos may have at most {max} bytes; this one has {size_bytes}"
            )));
        }
        // The client's content type is not trusted with anything: the video is probed.
        let _ = content_type;
        let key = blob::upload_key(viewer.organisation_id, session.child_id, session.id);
        let ttl = std::time::Duration::from_secs(state.settings.upload_url_ttl_secs);
        let entry = upload_entry(ctx, AuditAction::VideoUploadStart, &session.row).await?;
        let signed =
            state.videos().audited(entry).start_direct_upload(session.row, key, size_bytes as u64, ttl).await?;
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
        let session = guard::load::<session::Entity>(ctx, &session_id, ChildAction::Record).await?;
        let key = blob::video_key(viewer.organisation_id, session.child_id, session.id);
        let entry = upload_entry(ctx, AuditAction::VideoUpload, &session.row).await?;
        Ok(Session(ctx.state().videos().audited(entry).complete_direct_upload(session.row, &key).await?))
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
        let object = guard::load::<tracked_object::Entity>(ctx, &object_id, ChildAction::Record).await?;
        let child_link = match child_id {
            None => None,
            Some(id) if ids::decode_as(&id, Kind::Child)? == object.child_id => Some(object.child_id),
            Some(_) => {
                return Err(ApiError::bad_input("a tracked person can only be linked to the session's own child"));
            }
        };
        if child_link.is_some() && role != ObjectRole::Child {
            return Err(ApiError::bad_input("a person linked to a child must have the role CHILD"));
        }
        let entry = ctx.audit_entry(AuditAction::ObjectLabel)?.child(object.child_id).session(object.row.session_id);
        let mut model = object.row.into_active_model();
        model.role = Set(role);
        model.role_confidence = Set(1.0);
        model.child_id = Set(child_link);
        let txn = crate::db::begin_write(&ctx.state().db).await?;
        let labelled = model.update(&txn).await?;
        // Who is the child shows in the session's pictures.
        crate::sessions::bump_results_version(&txn, labelled.session_id).await?;
        audit::append(&txn, entry).await?;
        txn.commit().await?;
        Ok(TrackedObject::alone(labelled))
    }
}

/// The audit entry of an upload to `session`, once the child's RECORDING consent is checked.
async fn upload_entry(ctx: &Context<'_>, action: AuditAction, session: &session::Model) -> ApiResult<AuditEntry> {
    consents::require(&ctx.state().db, session.child_id, ConsentKind::Recording).await?;
    Ok(ctx.audit_entry(action)?.child(session.child_id).session(session.id))
}
