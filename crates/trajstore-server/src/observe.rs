//! The request layer: each request gets an id (the `x-request-id` response header), and
//! each 5xx is logged with it, its route and its error's chain of causes, while the client
//! gets the code's generic message and the id to quote.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{error_body, Code, Fault};

pub const REQUEST_ID: &str = "x-request-id";

/// A new id: a per-process random prefix (ids of two runs do not collide in one log) and a
/// counter (ids of one run sort by arrival).
fn next_request_id() -> String {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish() as u32
    });
    format!("{prefix:08x}-{:06}", COUNTER.fetch_add(1, Ordering::Relaxed) + 1)
}

pub async fn request_context(request: Request, next: Next) -> Response {
    let id = next_request_id();
    let method = request.method().clone();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str().to_string(),
        None => request.uri().path().to_string(),
    };
    let mut response = next.run(request).await;
    if response.status().is_server_error() {
        let fault = response.extensions().get::<Fault>().cloned().unwrap_or_else(|| Fault {
            code: Code::Internal,
            chain: vec![format!("a {} response with no error attached", response.status())],
        });
        tracing::error!(
            request_id = %id,
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            code = fault.code.as_str(),
            error = %fault.chain.join("; caused by: "),
            "request failed"
        );
        let message = format!("{} (request {id}; the server's log has the details)", fault.code.default_message());
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        response = error_body(fault.code, &message, None, Some(&id));
        *response.status_mut() = status;
        for (name, value) in headers.iter() {
            if name != axum::http::header::CONTENT_LENGTH && name != axum::http::header::CONTENT_TYPE {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
