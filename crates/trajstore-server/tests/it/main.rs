//! In-process tests of the router (`tower::ServiceExt::oneshot`): the documents it answers
//! with, without a socket or a process. The real binary is tested end to end in the CLI's
//! tests.

// A test reads top to bottom as one scenario; its length is not split for its own sake.
#![allow(clippy::too_many_lines)]

mod errors;
mod failure_modes;
mod happy;
mod live;
mod openapi;
mod sql;
mod streams;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use trajstore::Trajstore;
use trajstore_server::ServerConfig;

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn error(&self) -> Value {
        self.json()["error"].clone()
    }
}

/// A router over a new store in `dir`, and the store.
pub async fn app(dir: &std::path::Path, config: ServerConfig) -> (Router, Trajstore) {
    let store = Trajstore::open(dir.join("db").to_str().unwrap()).await.unwrap();
    (trajstore_server::router(store.clone(), config).0, store)
}

pub async fn call(app: &Router, method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app.clone().oneshot(request.body(Body::from(body.to_vec())).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    Reply { status: parts.status, headers: parts.headers, body }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    call(app, "GET", uri, &[], b"").await
}
