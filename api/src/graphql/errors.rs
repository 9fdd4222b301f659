//! The one error path every transport runs through (HTTP, and queries, mutations and
//! subscriptions over WebSocket): a schema extension that gives every error a code and masks
//! internal ones. Parse and validation errors (depth, complexity, unknown fields) come from
//! async-graphql without a code; their messages already say what is wrong, so they become
//! `BAD_USER_INPUT`. An `INTERNAL` error was logged with its cause where it happened (see
//! `error`) and reaches the client only as "internal error" and the request id.

use std::sync::{Arc, OnceLock};

use async_graphql::{
    ErrorExtensionValues, Request, Response, ServerError, ServerResult, Value,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextSubscribe},
};
use futures_util::{StreamExt, stream::BoxStream};

use super::RequestContext;
use crate::error::{ApiError, INTERNAL_MESSAGE, code};

/// Installs [`ErrorMasking`] on the schema.
pub struct ErrorPolicy;

impl ExtensionFactory for ErrorPolicy {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorMasking::default())
    }
}

/// One request's (or one subscription's) error policy.
#[derive(Default)]
struct ErrorMasking {
    /// Of an HTTP request: its data is only visible while the request is prepared.
    request_id: OnceLock<String>,
}

#[async_trait::async_trait]
impl Extension for ErrorMasking {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Some(context) = request_context(&request) {
            let _ = self.request_id.set(context.request_id.clone());
        }
        next.run(ctx, request).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        apply(&mut response, self.request_id.get().map(String::as_str).unwrap_or_default());
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // A socket's caller and id live in its session data, known from the start.
        let request_id = ctx.data_opt::<RequestContext>().map(|context| context.request_id.clone()).unwrap_or_default();
        next.run(ctx, stream)
            .map(move |mut response| {
                apply(&mut response, &request_id);
                response
            })
            .boxed()
    }
}

fn request_context(request: &Request) -> Option<&RequestContext> {
    request.data.get(&std::any::TypeId::of::<RequestContext>())?.downcast_ref()
}

/// Every error gets a code; internal ones lose their message to "internal error" and the id.
fn apply(response: &mut Response, request_id: &str) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
        match extensions.get("code") {
            Some(Value::String(found)) if found == code::INTERNAL => {
                error.message = format!("{INTERNAL_MESSAGE} (request id {request_id})");
                extensions.set("requestId", request_id);
            }
            Some(_) => {}
            None => extensions.set("code", code::BAD_USER_INPUT),
        }
    }
}

/// `error` as a request-level GraphQL error (no location: it is about the whole request), for
/// the extensions that refuse a request before any resolver runs.
pub fn request_error(error: ApiError) -> ServerError {
    let error = async_graphql::Error::from(error);
    let mut refused = ServerError::new(error.message, None);
    refused.extensions = error.extensions;
    refused
}
