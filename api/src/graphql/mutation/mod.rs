//! Every mutation, one file per area: accounts, children, sessions and their videos, analyses,
//! consent, exports, retention, third-party access, counsellor review and coding schemes.

mod accounts;
mod analysis;
mod api_keys;
mod children;
mod coding;
mod consents;
mod exports;
mod retention;
mod review;

pub use coding::coding_scheme;
pub use review::{ReviewPolicy, review_policy};
mod sessions;

use async_graphql::MergedObject;

/// Every mutation: accounts, children, sessions and uploads; analysis jobs.
#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    children::ChildMutation,
    sessions::SessionMutation,
    analysis::AnalysisMutation,
    consents::ConsentMutation,
    exports::ExportMutation,
    retention::RetentionMutation,
    api_keys::ApiKeyMutation,
    review::ReviewMutation,
    review::ReviewPolicyMutation,
    coding::CodingMutation,
);
