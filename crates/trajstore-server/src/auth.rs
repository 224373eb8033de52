//! The bearer token: writes always need it when one is set, reads only with
//! `--token-reads`, and health, version and the OpenAPI document never.

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, Code};
use crate::AppState;

/// The endpoints that never need the token.
pub const PUBLIC: &[&str] = &["/api/health", "/api/version", "/api/openapi.json"];

/// Compares in time that depends only on the lengths, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

pub async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.config.token else { return next.run(request).await };
    let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let public = PUBLIC.contains(&request.uri().path());
    if !write && (public || !state.config.token_reads) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        ApiError::from(Code::Unauthorized).into_response()
    }
}
