//! The error documents: a 4xx names its code and the parameter at fault; a 5xx shows only
//! a generic message and the request id, and its causes go to the log.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::json;
use trajstore_server::ServerConfig;

use crate::{app, call, get};

#[tokio::test]
async fn a_bad_parameter_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    for (uri, parameter) in [
        ("/api/trajectories?page=zz", "page"),
        ("/api/trajectories/t?foo=bar", "foo"),
        ("/api/trajectories/t?steps=1-2", "steps"),
        ("/api/compare?ids=", "ids"),
        ("/api/search?limit=5", "q"),
        ("/api/search?q=a&limit=-1", "limit"),
        ("/api/export?format=csv", "format"),
        ("/api/statistics?k=zero", "k"),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(
            (r.error()["code"].clone(), r.error()["parameter"].clone()),
            (json!("invalid_parameter"), json!(parameter)),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn a_bad_body_is_named_by_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    call(&app, "POST", "/api/trajectories", &[], br#"{"trajectory_id":"t"}"#).await;
    for (body, parameter) in [
        (r#"{"steps":[]}"#, "steps"),
        (r#"{"is_bookmarked":"yes"}"#, "is_bookmarked"),
        (r#"{"tags":[1]}"#, "tags[0]"),
        (r#"{"tags":["a,b"]}"#, "tags[0]"),
        (r#"{"notes":5}"#, "notes"),
        (r#"{}"#, "body"),
        (r#"[]"#, "body"),
        (r#"{"notes":null} x"#, "body"),
        ("{", "body"),
    ] {
        let r = call(&app, "PATCH", "/api/trajectories/t", &[], body.as_bytes()).await;
        assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!(parameter)), "{body}");
    }
    let json = [("content-type", "application/json")];
    for (body, parameter) in [(r#"{"path":5}"#, "path"), (r#"{"paths":"/x"}"#, "paths"), (r#"{}"#, "path")] {
        let r = call(&app, "POST", "/api/imports", &json, body.as_bytes()).await;
        assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!(parameter)), "{body}");
    }
    let r = call(&app, "POST", "/api/trajectories", &[], b"7").await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::BAD_REQUEST, json!("body")));
}

#[tokio::test]
async fn what_is_missing_or_refused_has_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig { token: Some("s3cret".into()), ..Default::default() }).await;
    let r = get(&app, "/api/trajectories/nope").await;
    assert_eq!((r.status, r.error()["code"].clone()), (StatusCode::NOT_FOUND, json!("not_found")));
    assert_eq!(get(&app, "/api/nothing-here").await.error()["code"], "not_found");
    assert_eq!(get(&app, "/api/imports/import-0").await.error()["code"], "not_found");
    let token = [("authorization", "Bearer s3cret")];
    let r = call(&app, "DELETE", "/api/trajectories", &token, b"").await;
    assert_eq!((r.status, r.error()["code"].clone()), (StatusCode::METHOD_NOT_ALLOWED, json!("method_not_allowed")));
    let r = call(&app, "DELETE", "/api/trajectories/t", &[], b"").await;
    assert_eq!((r.status, r.error()["code"].clone()), (StatusCode::UNAUTHORIZED, json!("unauthorized")));
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let json = [("content-type", "application/json"), ("authorization", "Bearer s3cret")];
    let r = call(&app, "POST", "/api/imports", &json, br#"{"path":"/etc/passwd"}"#).await;
    assert_eq!((r.status, r.error()["parameter"].clone()), (StatusCode::FORBIDDEN, json!("path")));
}

/// A writer that keeps what the log says, for one test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Removes every data file of the store under `dir`, so that reading any row fails.
fn lose_data_files(dir: &std::path::Path) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            removed += lose_data_files(&path);
        } else if path.parent().is_some_and(|p| p.ends_with("data")) {
            std::fs::remove_file(&path).unwrap();
            removed += 1;
        }
    }
    removed
}

#[tokio::test]
async fn a_server_error_is_logged_and_answered_with_a_generic_message_and_the_request_id() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    call(&app, "POST", "/api/trajectories", &[], br#"{"trajectory_id":"t","steps":[{"role":"user","content":"x"}]}"#)
        .await;
    assert!(lose_data_files(dir.path()) > 0);
    let r = get(&app, "/api/trajectories/t").await;

    assert!(r.status.is_server_error(), "{}: {}", r.status, String::from_utf8_lossy(&r.body));
    let id = r.headers[trajstore_server::REQUEST_ID].to_str().unwrap().to_string();
    let error = r.error();
    assert_eq!(error["code"], "storage_error");
    assert_eq!(error["request_id"], json!(id));
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&id), "{message}");
    let dir_name = dir.path().file_name().unwrap().to_str().unwrap();
    assert!(
        !String::from_utf8_lossy(&r.body).contains(dir_name),
        "no internal detail: {}",
        String::from_utf8_lossy(&r.body)
    );

    let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let line = logged.lines().find(|l| l.contains(&id)).unwrap_or_else(|| panic!("no log line for {id}: {logged}"));
    assert!(
        line.contains("ERROR") && line.contains("/api/trajectories/{id}") && line.contains("storage_error"),
        "{line}"
    );
    assert!(line.contains(dir_name), "the log has the cause: {line}");
}
