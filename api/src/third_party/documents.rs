//! Trusted documents: GraphQL documents an organisation's admins registered, by the SHA-256 of
//! their exact text. With "trusted documents only" on, the organisation's API keys run these
//! and nothing else. Any caller may send a registered document's hash instead of its text
//! (`extensions.persistedQuery`); documents are not secrets, only an allow-list.

use chrono::Utc;
use entity::{organisation, trusted_document};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use crate::{
    audit::{self, AuditEntry},
    digest,
    error::{ApiError, ApiResult},
};

/// The longest document one may register.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 10;
/// The most documents one call may register.
pub const MAX_DOCUMENTS: usize = 1000;
/// How a document's hash is written in manifests and answers.
pub const HASH_PREFIX: &str = "sha256:";

/// The SHA-256 of a document's exact text, lower-case hex.
pub fn hash(document: &str) -> String {
    digest::sha256_hex(document.as_bytes())
}

/// The hex hash in `sha256:<hex>` or plain `<hex>`.
pub fn bare_hash(named: &str) -> &str {
    named.strip_prefix(HASH_PREFIX).unwrap_or(named)
}

/// Registers `documents` for `organisation` (again: nothing changes); returns each one's
/// `sha256:<hex>`, in order. A document that is not GraphQL is refused with its position.
pub async fn register(
    db: &DatabaseConnection,
    organisation: Uuid,
    documents: Vec<String>,
    entry: AuditEntry,
) -> ApiResult<Vec<String>> {
    if documents.is_empty() || documents.len() > MAX_DOCUMENTS {
        return Err(ApiError::bad_input(format!("register between 1 and {MAX_DOCUMENTS} documents at once")));
    }
    for (index, document) in documents.iter().enumerate() {
        if document.len() > MAX_DOCUMENT_BYTES {
            return Err(ApiError::bad_input(format!("document {index} is over {MAX_DOCUMENT_BYTES} bytes")));
        }
        if let Err(error) = async_graphql::parser::parse_query(document) {
            return Err(ApiError::bad_input(format!("document {index} is not a GraphQL document: {error}")));
        }
    }
    let now = Utc::now();
    let hashes: Vec<String> = documents.iter().map(|document| hash(document)).collect();
    let rows = documents.into_iter().zip(&hashes).map(|(document, hash)| trusted_document::ActiveModel {
        organisation_id: Set(organisation),
        hash: Set(hash.clone()),
        document: Set(document),
        created_at: Set(now),
    });
    let txn = crate::db::begin_write(db).await?;
    trusted_document::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([trusted_document::Column::OrganisationId, trusted_document::Column::Hash])
        .exec_without_returning(&txn)
        .await?;
    audit::append(&txn, entry).await?;
    txn.commit().await?;
    Ok(hashes.into_iter().map(|hash| format!("{HASH_PREFIX}{hash}")).collect())
}

/// A registered document with this (hex) hash, of any organisation.
pub async fn find(db: &impl ConnectionTrait, hash: &str) -> ApiResult<Option<String>> {
    let found = trusted_document::Entity::find().filter(trusted_document::Column::Hash.eq(hash)).one(db).await?;
    Ok(found.map(|document| document.document))
}

/// Whether `organisation` registered the document with this (hex) hash.
pub async fn is_trusted(db: &impl ConnectionTrait, organisation: Uuid, hash: &str) -> ApiResult<bool> {
    let count = trusted_document::Entity::find()
        .filter(trusted_document::Column::OrganisationId.eq(organisation))
        .filter(trusted_document::Column::Hash.eq(hash))
        .count(db)
        .await?;
    Ok(count > 0)
}

/// Turns "trusted documents only" for the organisation's API keys on or off.
pub async fn require(db: &DatabaseConnection, organisation: Uuid, only: bool, entry: AuditEntry) -> ApiResult<bool> {
    let txn = crate::db::begin_write(db).await?;
    let found = organisation::Entity::find_by_id(organisation).one(&txn).await?.ok_or(ApiError::Unauthenticated)?;
    let mut model = found.into_active_model();
    model.trusted_documents_only = Set(only);
    let updated = model.update(&txn).await?;
    audit::append(&txn, entry).await?;
    txn.commit().await?;
    Ok(updated.trusted_documents_only)
}

/// The documents of a manifest as Apollo's and Relay's tooling write them,
/// `{ "sha256:<hex>": "query …" }` (or plain `<hex>` names): each name must be its document's
/// SHA-256, so the manifest can't smuggle in a document under another's hash.
pub fn manifest_documents(json: &str) -> anyhow::Result<Vec<String>> {
    let manifest: std::collections::BTreeMap<String, String> = serde_json::from_str(json)
        .map_err(|error| anyhow::anyhow!("not a manifest ({{\"sha256:…\": \"query …\"}}): {error}"))?;
    manifest
        .into_iter()
        .map(|(name, document)| {
            let named = bare_hash(&name).to_ascii_lowercase();
            anyhow::ensure!(named == hash(&document), "`{name}` is not the SHA-256 of its document");
            Ok(document)
        })
        .collect()
}

/// Registers a manifest's documents for `organisation` (`imind trusted-documents`); the audit
/// log names the server's operator (`system`) as the actor.
pub async fn import_manifest(db: &DatabaseConnection, organisation: Uuid, json: &str) -> anyhow::Result<Vec<String>> {
    let documents = manifest_documents(json)?;
    let actor = audit::Actor { organisation: Some(organisation), ..audit::Actor::SYSTEM };
    let entry = AuditEntry::new(audit::AuditAction::TrustedDocumentsRegister, actor, audit::Origin::default());
    register(db, organisation, documents, entry).await.map_err(|error| anyhow::anyhow!("{error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_name_documents_by_their_hash() {
        let query = "query Me { me { id } }";
        let named = format!("{{\"sha256:{}\": {query:?}}}", hash(query));
        assert_eq!(manifest_documents(&named).unwrap(), [query]);
        let plain = format!("{{\"{}\": {query:?}}}", hash(query).to_uppercase());
        assert_eq!(manifest_documents(&plain).unwrap(), [query]);
        let smuggled = format!("{{\"sha256:{}\": \"mutation {{ deleteChild(id: 1) }}\"}}", hash(query));
        assert!(manifest_documents(&smuggled).is_err());
        assert!(manifest_documents("[1, 2]").is_err());
    }
}
