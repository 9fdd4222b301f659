//! Charges each operation to its caller's rate limits (`crate::rate_limits`) once it has
//! passed validation — its estimated cost is known — and its caller has been checked: one
//! request and its cost to an API key's or user's buckets, or its cost to the client address's
//! for callers without credentials (their requests were counted before the body was read). A
//! socket's operations are counted as requests when they start (`ws`), so here only their cost.
//! A refused operation runs no resolver and answers `TOO_MANY_REQUESTS` with `retryAfter`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::{
    Response, ServerError, ValidationResult,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextValidation},
};

use super::RequestContext;
use crate::{
    error::ApiError,
    rate_limits::{Metered, Refusal},
    state::AppState,
};

pub struct Quota;

impl ExtensionFactory for Quota {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(QuotaCheck { cost: Mutex::new(0), charged: AtomicBool::new(false) })
    }
}

struct QuotaCheck {
    /// The operation's estimated cost, once validated.
    cost: Mutex<usize>,
    charged: AtomicBool,
}

impl QuotaCheck {
    /// Charges the operation, once: its request too unless `socket`.
    fn charge(&self, ctx: &ExtensionContext<'_>, socket: bool) -> Result<(), ApiError> {
        let (Some(request), Some(state)) = (ctx.data_opt::<RequestContext>(), ctx.data_opt::<AppState>()) else {
            return Ok(());
        };
        if self.charged.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        // A refusal's headers show the empty bucket.
        let refused = |refusal: Refusal| {
            let _ = request.allowance.set(refusal.allowance);
            ApiError::TooManyRequests(refusal.retry_after)
        };
        let cost = *self.cost.lock().expect("not poisoned");
        let caller = match request.credential() {
            Ok(credential) => Metered::of(&credential.viewer),
            Err(_) => match request.client_address {
                Some(address) => Metered::Address(crate::auth::client_key(address)),
                None => return Ok(()),
            },
        };
        if !socket && !matches!(caller, Metered::Address(_)) {
            let allowance = state.rate_limits.request(caller).map_err(refused)?;
            let _ = request.allowance.set(allowance);
        }
        state.rate_limits.cost(caller, cost).map_err(refused)?;
        Ok(())
    }
}

fn refusal(error: ApiError) -> Vec<ServerError> {
    vec![super::errors::request_error(error)]
}

#[async_trait::async_trait]
impl Extension for QuotaCheck {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        *self.cost.lock().expect("not poisoned") = result.complexity;
        // A socket's caller is checked before its operations start: charge now.
        if ctx.data_opt::<RequestContext>().is_some_and(RequestContext::is_settled) {
            self.charge(ctx, true).map_err(refusal)?;
        }
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Err(error) = self.charge(ctx, false) {
            return Response::from_errors(refusal(error));
        }
        next.run(ctx, operation_name).await
    }
}
