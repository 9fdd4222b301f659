//! Documents by hash and trusted documents. A request whose `extensions.persistedQuery`
//! names a `sha256Hash` may leave out its text: it is taken from what clients sent before
//! (`PersistedQueries`) or from the registered trusted documents, else the request answers
//! `PERSISTED_QUERY_NOT_FOUND` (and the client sends the text with the hash, which is checked
//! and kept). An API key of an organisation with "trusted documents only" on runs only the
//! organisation's registered documents; anything else answers `OPERATION_NOT_TRUSTED` before
//! a resolver runs.

use std::sync::{Arc, Mutex};

use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextValidation},
};

use super::{RequestContext, errors::request_error as server_error};
use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
    third_party::documents,
};

pub struct Documents;

impl ExtensionFactory for Documents {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentCheck { hash: Mutex::new(None) })
    }
}

/// One operation's check (a socket's operations each get their own).
struct DocumentCheck {
    /// The SHA-256 of an API key's document, once its text is known.
    hash: Mutex<Option<String>>,
}

/// The hash a request names in `extensions.persistedQuery.sha256Hash`, if any.
fn named_hash(request: &Request) -> ApiResult<Option<String>> {
    let Some(persisted) = request.extensions.get("persistedQuery") else { return Ok(None) };
    let hash = match persisted {
        Value::Object(fields) => match fields.get("sha256Hash") {
            Some(Value::String(hash)) => hash,
            _ => return Err(ApiError::bad_input("extensions.persistedQuery needs a sha256Hash")),
        },
        _ => return Err(ApiError::bad_input("extensions.persistedQuery must be an object")),
    };
    let hash = documents::bare_hash(hash).to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_input("sha256Hash must be 64 hexadecimal digits"));
    }
    Ok(Some(hash))
}

/// Fills in the text of a request sent by hash, or keeps a text sent with its hash.
async fn resolve_text(state: &AppState, mut request: Request) -> ApiResult<Request> {
    let Some(hash) = named_hash(&request)? else { return Ok(request) };
    if request.query.is_empty() {
        let text = match state.persisted.get(&hash) {
            Some(text) => text,
            None => {
                let text: Arc<str> =
                    documents::find(&state.db, &hash).await?.ok_or(ApiError::PersistedQueryNotFound)?.into();
                state.persisted.put(hash, text.clone());
                text
            }
        };
        request.query = text.to_string();
    } else if documents::hash(&request.query) == hash {
        state.persisted.put(hash, request.query.as_str().into());
    } else {
        return Err(ApiError::bad_input("extensions.persistedQuery.sha256Hash is not the SHA-256 of the query"));
    }
    Ok(request)
}

/// Refuses a key's document (of SHA-256 `hash`) that its organisation did not register, when it
/// runs trusted documents only. Needs the caller checked.
async fn check_trusted(state: &AppState, request: &RequestContext, hash: Option<&str>) -> ApiResult<()> {
    let Ok(credential) = request.credential() else { return Ok(()) };
    let Some(key) = credential.viewer.key() else { return Ok(()) };
    if !key.trusted_documents_only {
        return Ok(());
    }
    let hash =
        hash.ok_or_else(|| anyhow::anyhow!("a key's document was not hashed before its check. This is a bug."))?;
    if documents::is_trusted(&state.db, credential.viewer.organisation_id, hash).await? {
        Ok(())
    } else {
        Err(ApiError::OperationNotTrusted)
    }
}

impl DocumentCheck {
    async fn check(&self, state: &AppState, request: &RequestContext) -> ApiResult<()> {
        let hash = self.hash.lock().expect("not poisoned").clone();
        check_trusted(state, request, hash.as_deref()).await
    }
}

#[async_trait::async_trait]
impl Extension for DocumentCheck {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let Some(state) = ctx.data_opt::<AppState>() else { return next.run(ctx, request).await };
        let request = resolve_text(state, request).await.map_err(server_error)?;
        // A socket's context is in `ctx` (session data); an HTTP request's is not there yet: it
        // travels in the request.
        let context = ctx.data_opt::<RequestContext>().or_else(|| {
            request.data.get(&std::any::TypeId::of::<RequestContext>()).and_then(|data| data.downcast_ref())
        });
        if context.is_some_and(RequestContext::is_key) {
            *self.hash.lock().expect("not poisoned") = Some(documents::hash(&request.query));
        }
        next.run(ctx, request).await
    }

    /// A socket's caller is checked before its operations start: its documents are checked
    /// here, since subscriptions never reach `execute`.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        if let (Some(request), Some(state)) = (ctx.data_opt::<RequestContext>(), ctx.data_opt::<AppState>())
            && request.is_settled()
        {
            self.check(state, request).await.map_err(|error| vec![server_error(error)])?;
        }
        next.run(ctx).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let (Some(request), Some(state)) = (ctx.data_opt::<RequestContext>(), ctx.data_opt::<AppState>())
            && let Err(error) = self.check(state, request).await
        {
            return Response::from_errors(vec![server_error(error)]);
        }
        next.run(ctx, operation_name).await
    }
}
