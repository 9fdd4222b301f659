//! Third-party access, for admins: API keys and the trusted documents keys may be held to.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::enums::ApiKeyScope;

use crate::{
    access::{self, OrganisationAction},
    audit::AuditAction,
    error::ApiResult,
    graphql::{
        context::ContextExt,
        ids::{self, Kind},
        types::{ApiKey, CreatedApiKey},
    },
    third_party::{documents, keys},
};

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key for a third party. Admins only. `childIds` restricts it to those
    /// children (left out: every child of the organisation); `expiresAt` ends it (left out: it
    /// stands until revoked). The secret is in the answer, and only there.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        name: String,
        scope: ApiKeyScope,
        child_ids: Option<Vec<ID>>,
        expires_at: Option<DateTime<Utc>>,
    ) -> ApiResult<CreatedApiKey> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageApiKeys)?;
        let children = child_ids
            .map(|ids| ids.iter().map(|id| ids::decode_as(id, Kind::Child)).collect::<ApiResult<Vec<_>>>())
            .transpose()?;
        let new = keys::NewKey::parse(&name, scope, children, expires_at)?;
        let entry = ctx.audit_entry(AuditAction::ApiKeyCreate)?;
        let created = keys::create(&ctx.state().db, viewer.organisation_id, viewer.user_id, new, entry).await?;
        Ok(CreatedApiKey { key: created.key, secret: created.secret })
    }

    /// Revokes a key: refused on every gateway within a second. Admins only.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ApiKey> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageApiKeys)?;
        let key = ids::decode_as(&id, Kind::ApiKey)?;
        let state = ctx.state();
        let entry = ctx.audit_entry(AuditAction::ApiKeyRevoke)?;
        let revoked = keys::revoke(&state.db, viewer.organisation_id, key, entry).await?;
        state.sign_ins.keys().forget(key);
        Ok(ApiKey(revoked))
    }

    /// Registers GraphQL documents as the organisation's trusted documents (each at most 64
    /// KiB, at most 1000 at once) and returns their hashes, `sha256:<hex>`, in order. Admins
    /// only. A manifest (`{"sha256:…": "query …"}`) can also be loaded with
    /// `imind trusted-documents`.
    async fn register_trusted_documents(&self, ctx: &Context<'_>, documents: Vec<String>) -> ApiResult<Vec<String>> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageApiKeys)?;
        let entry = ctx.audit_entry(AuditAction::TrustedDocumentsRegister)?;
        documents::register(&ctx.state().db, viewer.organisation_id, documents, entry).await
    }

    /// Lets the organisation's API keys run only its trusted documents (`true`), or any
    /// document (`false`). Takes effect on every gateway within a second. Admins only.
    async fn set_trusted_documents_only(&self, ctx: &Context<'_>, enabled: bool) -> ApiResult<bool> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageApiKeys)?;
        let state = ctx.state();
        let entry = ctx.audit_entry(AuditAction::TrustedDocumentsRequire)?;
        let only = documents::require(&state.db, viewer.organisation_id, enabled, entry).await?;
        state.sign_ins.keys().forget_all();
        Ok(only)
    }
}
