//! One error type for everything a client can be told, mapped to GraphQL error codes.
//!
//! Client mistakes carry a clear message. Internal failures are logged here with their whole
//! cause chain (inside the request's or connection's span, so the log line has its id) and
//! reach the client only as "internal error" plus that id — see `graphql::errors`, which every
//! transport runs through.

use std::sync::Arc;

use async_graphql::ErrorExtensions;

/// The `extensions.code` values clients rely on (docs/api.md).
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const UNSUPPORTED_MEDIA: &str = "UNSUPPORTED_MEDIA";
    pub const TOO_MANY_REQUESTS: &str = "TOO_MANY_REQUESTS";
    pub const CONSENT_REQUIRED: &str = "CONSENT_REQUIRED";
    pub const OPERATION_NOT_TRUSTED: &str = "OPERATION_NOT_TRUSTED";
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const INTERNAL: &str = "INTERNAL";
}

/// The message every internal error is replaced with.
pub const INTERNAL_MESSAGE: &str = "internal error";

#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required: send a valid access token as `Authorization: Bearer …`")]
    Unauthenticated,
    /// A sign-in that failed; which of the two was wrong is not said.
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// Over a rate limit; the client may try again after the duration.
    #[error("too many requests: try again in {} s", .0.as_secs().max(1))]
    TooManyRequests(std::time::Duration),
    #[error("you are not allowed to do this")]
    Forbidden,
    /// The child's guardians have not consented to this (or withdrew it).
    #[error("this needs the {} consent of the child's guardian (giveConsent)", .0.as_str())]
    ConsentRequired(entity::enums::ConsentKind),
    /// Also what a caller sees for things that exist but are not theirs to see, so that ids
    /// can't be probed.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMedia(String),
    /// An API key of an organisation that runs trusted documents only sent another one.
    #[error("this API key may run only the organisation's trusted documents (registerTrustedDocuments)")]
    OperationNotTrusted,
    /// A request named a document by its hash that this gateway does not know: send its text.
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    /// Shared so that one failed batch load can be handed to every resolver waiting on it.
    #[error("{0:#}")]
    Internal(Arc<anyhow::Error>),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadUserInput(message.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => code::UNAUTHENTICATED,
            Self::TooManyRequests(_) => code::TOO_MANY_REQUESTS,
            Self::Forbidden => code::FORBIDDEN,
            Self::ConsentRequired(_) => code::CONSENT_REQUIRED,
            Self::NotFound => code::NOT_FOUND,
            Self::BadUserInput(_) => code::BAD_USER_INPUT,
            Self::PayloadTooLarge(_) => code::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMedia(_) => code::UNSUPPORTED_MEDIA,
            Self::OperationNotTrusted => code::OPERATION_NOT_TRUSTED,
            Self::PersistedQueryNotFound => code::PERSISTED_QUERY_NOT_FOUND,
            Self::Internal(_) => code::INTERNAL,
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(Arc::new(error))
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        anyhow::Error::new(error).context("database").into()
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let message = match &error {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                INTERNAL_MESSAGE.to_owned()
            }
            other => other.to_string(),
        };
        let code = error.code();
        let retry_after = match &error {
            ApiError::TooManyRequests(wait) => Some(wait.as_secs().max(1)),
            _ => None,
        };
        async_graphql::Error::new(message).extend_with(|_, extensions| {
            extensions.set("code", code);
            if let Some(seconds) = retry_after {
                extensions.set("retryAfter", seconds);
            }
        })
    }
}
