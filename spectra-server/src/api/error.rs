//! The one error type of the HTTP API: a status and a JSON body `{code, message}`.
//!
//! `spectra_core::Error` is mapped here, once, by its code; a new core error code fails to
//! compile until it has a status.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use spectra_core::ErrorCode;

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
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
                "auth_throttled",
                format!(
                    "too many failed authentications from this token or address; retry in \
                     {retry_after_secs} s"
                ),
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let mut response = (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response();
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
            ErrorCode::Io => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, code.as_str(), error.to_string())
    }
}

impl From<StoreError> for ApiError {
    /// A database that cannot be reached is a 503 (retrying later may work); stored data that
    /// does not decode is a 500, which a client must not retry forever.
    fn from(error: StoreError) -> Self {
        let (status, code) = match error {
            StoreError::Corrupt { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "store_corrupt"),
            StoreError::Database(_) | StoreError::GroupCommit(_) | StoreError::Config { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    /// Every unreadable JSON body is a 400 `invalid_data` (axum would say 415 or 422), as the
    /// OpenAPI document lists; only an over-large one is a 413.
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::too_large(rejection.body_text());
        }
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_data",
            rejection.body_text(),
        )
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
            (corrupt.status, corrupt.code),
            (StatusCode::INTERNAL_SERVER_ERROR, "store_corrupt")
        );
        let down = ApiError::from(StoreError::GroupCommit("gone".into()));
        assert_eq!(
            (down.status, down.code),
            (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
        );
    }
}
