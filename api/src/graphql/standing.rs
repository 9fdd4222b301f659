//! Settles whether an HTTP request's caller still stands (`RequestContext::settle`) once the
//! request has passed validation and before any resolver runs: refused requests and anonymous
//! ones (`login`) cost no query, and every resolver sees one answer. It also keeps the
//! operation's name for the audit log.

use std::sync::Arc;

use async_graphql::{
    Response, ServerError,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute},
};

use super::RequestContext;
use crate::{error::INTERNAL_MESSAGE, state::AppState};

pub struct CallerStanding;

impl ExtensionFactory for CallerStanding {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CallerStanding)
    }
}

#[async_trait::async_trait]
impl Extension for CallerStanding {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let (Some(request), Some(name)) = (ctx.data_opt::<RequestContext>(), operation_name) {
            request.set_operation_name(name);
        }
        if let (Some(request), Some(state)) = (ctx.data_opt::<RequestContext>(), ctx.data_opt::<AppState>())
            && let Err(error) = request.settle(&state.sign_ins).await
        {
            tracing::error!(%error, "checking the caller's sign-in");
            let mut refused = ServerError::new(INTERNAL_MESSAGE, None);
            refused.extensions.get_or_insert_with(Default::default).set("code", crate::error::code::INTERNAL);
            return Response::from_errors(vec![refused]);
        }
        next.run(ctx, operation_name).await
    }
}
