//! `POST /v1/traces`: OTLP over HTTP, protobuf or JSON, optionally gzip-compressed, from
//! agents instrumented with OpenTelemetry. Spans are held per trace and stored as one
//! trajectory once it has been quiet for `serve --otlp-quiet` (docs/formats.md, otlp).

use std::io::Read;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trajstore::otlp;

use crate::error::{ApiError, ApiResult};
use crate::query::json_body;
use crate::AppState;

const PROTOBUF: &str = "application/x-protobuf";

/// An OTLP/JSON `ExportTraceServiceRequest` (field names in lowerCamelCase or as in the
/// .proto; ids in hex): only its outline is described here, the OTLP specification
/// gives the rest. Read leniently: parts that are not what OTLP says are skipped.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // only its schema is used; the body is read as JSON by the decoder
struct TracesRequest {
    #[serde(rename = "resourceSpans")]
    resource_spans: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
}

/// The body, inflated when `Content-Encoding: gzip`, at most `limit` bytes either way.
fn inflate(headers: &HeaderMap, body: Bytes, limit: usize) -> ApiResult<Bytes> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => Ok(body),
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::bad_request("body", format!("invalid gzip: {e}")))?;
            if out.len() > limit {
                return Err(ApiError::new(
                    crate::Code::BodyTooLarge,
                    format!("the body inflates beyond {limit} bytes"),
                ));
            }
            Ok(out.into())
        }
        other => Err(ApiError::bad_request("content-encoding", format!("expected gzip or identity, got {other:?}"))),
    }
}

/// Receives the spans of an `ExportTraceServiceRequest` (OTLP/HTTP): `application/x-protobuf`
/// or `application/json`, optionally with `Content-Encoding: gzip`. Each trace (or
/// `gen_ai.conversation.id` / `session.id`) becomes one trajectory, stored once no span of
/// it has arrived for `serve --otlp-quiet` seconds, with the trace id (lowercase hex) or the
/// conversation id as its trajectory_id.
#[utoipa::path(post, path = "/v1/traces", tag = "otlp",
    request_body(content((Vec<u8> = "application/x-protobuf"), (TracesRequest = "application/json"))),
    responses((status = 200, description = "accepted: an empty ExportTraceServiceResponse (protobuf, or {} in JSON)")))]
pub async fn traces(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let body = inflate(&headers, body, s.config.max_body_bytes)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let protobuf = matches!(media.as_str(), PROTOBUF | "application/protobuf");
    let spans = if protobuf {
        otlp::decode_protobuf(&body).map_err(|e| ApiError::bad_request("body", e))?
    } else if media == "application/json" {
        let doc: serde_json::Value = json_body(&body)?;
        otlp::decode_json(&doc).map_err(|e| ApiError::bad_request("body", e))?
    } else {
        return Err(ApiError::bad_request(
            "content-type",
            format!("expected {PROTOBUF} or application/json, got {content_type:?}"),
        ));
    };
    if let Some(i) = spans.iter().position(|s| s.trace_id.is_empty() || s.span_id.is_empty()) {
        return Err(ApiError::bad_request("traceId", format!("span {i} has no traceId or spanId")));
    }
    s.traces.push(spans);
    Ok(if protobuf {
        ([(header::CONTENT_TYPE, PROTOBUF)], Vec::<u8>::new()).into_response()
    } else {
        Json(serde_json::json!({})).into_response()
    })
}
