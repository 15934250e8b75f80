//! The one error type of the HTTP API: a status and core's JSON error body
//! ([`spectra_core::ErrorBody`]: `{code, number?, message, path?, line?, column?}`).
//!
//! `spectra_core::Error` is mapped here, once, by its code; a new core error code fails to
//! compile until it has a status. The server's own codes are [`ApiErrorCode`], listed with
//! the core's in `/openapi.json` (a test keeps the two lists equal).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use spectra_core::{ErrorBody, ErrorCode};

use crate::accounts::AccountError;
use crate::store::StoreError;

/// Every code an error body of this API may carry: the core library's, then the server's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorCode {
    Core(ErrorCode),
    Unauthorized,
    Forbidden,
    Conflict,
    RateLimited,
    AuthThrottled,
    MethodNotAllowed,
    Internal,
    StoreUnavailable,
    StoreCorrupt,
}

impl ApiErrorCode {
    /// The server's own codes.
    pub const SERVER: [ApiErrorCode; 9] = [
        ApiErrorCode::Unauthorized,
        ApiErrorCode::Forbidden,
        ApiErrorCode::Conflict,
        ApiErrorCode::RateLimited,
        ApiErrorCode::AuthThrottled,
        ApiErrorCode::MethodNotAllowed,
        ApiErrorCode::Internal,
        ApiErrorCode::StoreUnavailable,
        ApiErrorCode::StoreCorrupt,
    ];

    /// Every code: the core's in their order, then the server's.
    pub fn all() -> impl Iterator<Item = ApiErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .map(ApiErrorCode::Core)
            .chain(ApiErrorCode::SERVER)
    }

    /// The code as JSON bodies carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorCode::Core(code) => code.as_str(),
            ApiErrorCode::Unauthorized => "unauthorized",
            ApiErrorCode::Forbidden => "forbidden",
            ApiErrorCode::Conflict => "conflict",
            ApiErrorCode::RateLimited => "rate_limited",
            ApiErrorCode::AuthThrottled => "auth_throttled",
            ApiErrorCode::MethodNotAllowed => "method_not_allowed",
            ApiErrorCode::Internal => "internal",
            ApiErrorCode::StoreUnavailable => "store_unavailable",
            ApiErrorCode::StoreCorrupt => "store_corrupt",
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ApiErrorCode,
    /// Boxed: handlers return `Result<_, ApiError>` everywhere, and the body is large.
    pub body: Box<ErrorBody>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ApiErrorCode, message: impl Into<String>) -> Self {
        let mut body = ErrorBody::new(code.as_str(), message);
        if let ApiErrorCode::Core(code) = code {
            body.number = Some(code.as_u32());
        }
        ApiError {
            status,
            code,
            body: Box::new(body),
            retry_after_secs: None,
        }
    }

    /// The message of the body.
    pub fn message(&self) -> &str {
        &self.body.message
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ApiErrorCode::Core(ErrorCode::InvalidInput),
            message,
        )
    }

    /// A body that did not decode (malformed JSON, a wrong shape).
    pub fn invalid_data(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ApiErrorCode::Core(ErrorCode::InvalidData),
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ApiErrorCode::Unauthorized,
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, ApiErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ApiErrorCode::Core(ErrorCode::NotFound),
            message,
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, ApiErrorCode::Conflict, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiErrorCode::Core(ErrorCode::TooLarge),
            message,
        )
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiErrorCode::Core(ErrorCode::Unsupported),
            message,
        )
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ApiErrorCode::MethodNotAllowed,
            message,
        )
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ApiErrorCode::RateLimited,
                format!(
                    "this agent is over its uploads per minute; nothing of this request was \
                     stored; retry in {retry_after_secs} s"
                ),
            )
        }
    }

    /// Too many failed authentications from this token id or address this minute.
    pub fn auth_throttled(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ApiErrorCode::AuthThrottled,
                format!(
                    "too many failed authentications from this token or address; retry in \
                     {retry_after_secs} s"
                ),
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiErrorCode::Internal,
            message,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.body.code, message = %self.body.message, "request failed");
        }
        let mut response = (self.status, Json(*self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<spectra_core::Error> for ApiError {
    fn from(error: spectra_core::Error) -> Self {
        let code = error.code();
        let status = match code {
            ErrorCode::InvalidInput
            | ErrorCode::InvalidPattern
            | ErrorCode::InvalidData
            | ErrorCode::InvalidRule => StatusCode::BAD_REQUEST,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorCode::Unsupported => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Io | ErrorCode::Callback => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            code: ApiErrorCode::Core(code),
            body: Box::new(error.body()),
            retry_after_secs: None,
        }
    }
}

impl From<StoreError> for ApiError {
    /// A database that cannot be reached is a 503 (retrying later may work); stored data that
    /// does not decode is a 500, which a client must not retry forever.
    fn from(error: StoreError) -> Self {
        let (status, code) = match error {
            StoreError::Corrupt { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiErrorCode::StoreCorrupt,
            ),
            StoreError::Database(_) | StoreError::GroupCommit(_) | StoreError::Config { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ApiErrorCode::StoreUnavailable,
            ),
        };
        ApiError::new(status, code, error.to_string())
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid(message) => ApiError::bad_request(message),
            AccountError::WrongCredentials | AccountError::SessionEnded => {
                ApiError::unauthorized(error.to_string())
            }
            AccountError::Throttled { retry_after_secs } => ApiError {
                retry_after_secs: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ApiErrorCode::AuthThrottled,
                    error.to_string(),
                )
            },
            AccountError::NoSuchUser(_) => ApiError::not_found(error.to_string()),
            AccountError::Conflict(message) => ApiError::conflict(message),
            AccountError::Store(store) => store.into(),
            AccountError::Hashing(message) => ApiError::internal(message),
        }
    }
}

impl From<JsonRejection> for ApiError {
    /// Every unreadable JSON body is a 400 `invalid_data` (axum would say 415 or 422), as the
    /// OpenAPI document lists; only an over-large one is a 413.
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::too_large(rejection.body_text());
        }
        ApiError::invalid_data(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_is_not_worth_retrying_and_an_outage_is() {
        let corrupt = ApiError::from(StoreError::Corrupt {
            what: "agent",
            message: "bad".into(),
        });
        assert_eq!(
            (corrupt.status, corrupt.body.code.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "store_corrupt")
        );
        let down = ApiError::from(StoreError::GroupCommit("gone".into()));
        assert_eq!(
            (down.status, down.body.code.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
        );
    }

    #[test]
    fn openapi_lists_exactly_the_codes_the_server_answers_with() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("openapi.json")).expect("openapi.json");
        let listed = spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
            .as_array()
            .expect("an enum of codes");
        let mut listed: Vec<&str> = listed.iter().filter_map(|c| c.as_str()).collect();
        let mut answered: Vec<&str> = ApiErrorCode::all().map(ApiErrorCode::as_str).collect();
        listed.sort_unstable();
        answered.sort_unstable();
        assert_eq!(listed, answered);
    }

    #[test]
    fn core_errors_keep_their_body() {
        let error = spectra_core::units::parse_duration("soon").expect_err("not a duration");
        let api = ApiError::from(error);
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        let json = serde_json::to_value(&api.body).expect("json");
        assert_eq!(json["code"], "invalid_input");
        assert_eq!(json["number"], 4);
        assert!(json["message"].as_str().is_some_and(|m| m.contains("soon")));
    }
}
