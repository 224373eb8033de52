//! Query strings: decoded strictly into (name, value) pairs, then read into each
//! endpoint's typed query by [`FromParams`]; the [`Query`] extractor does both.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use trajstore::{CurveRequest, FailureModesRequest, FilterSet, ListRequest, StatsRequest, ToolsRequest};

use crate::error::{ApiError, ApiResult};

/// The most results a search or similarity query returns.
pub const MAX_COUNT: usize = 1000;

/// The query string as (name, value) pairs, decoded, in order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// A name or value whose bytes are not UTF-8 is an error naming it (decoding lossily
    /// would have turned them into U+FFFD and matched something else); a U+FFFD sent as its
    /// own UTF-8 bytes is kept as it is.
    pub fn parse(raw: Option<&str>) -> ApiResult<Self> {
        let Some(q) = raw else { return Ok(Params::default()) };
        // What form_urlencoded::parse does, without its lossy step: '+' is a space, then
        // percent-decoding to bytes, then a strict UTF-8 check.
        let decode = |part: &str| {
            let bytes: Vec<u8> = percent_encoding::percent_decode(part.replace('+', " ").as_bytes()).collect();
            String::from_utf8(bytes).ok()
        };
        let mut out = Vec::new();
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(name) = decode(k) else {
                return Err(ApiError::bad_request("query", "a parameter name is not valid UTF-8 once percent-decoded"));
            };
            let Some(value) = decode(v) else {
                return Err(ApiError::bad_request(&name, "not valid UTF-8 once percent-decoded"));
            };
            out.push((name, value));
        }
        Ok(Params(out))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Checks that only parameters named in `known` are given, each at most once (a second
    /// value would otherwise be silently ignored or silently win).
    pub fn only(&self, known: &[&str]) -> ApiResult<()> {
        for (i, (k, _)) in self.0.iter().enumerate() {
            if !known.contains(&k.as_str()) {
                let expected = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                return Err(ApiError::bad_request(k, format!("unknown parameter; this endpoint takes: {expected}")));
            }
            if self.0[..i].iter().any(|(earlier, _)| earlier == k) {
                return Err(ApiError::bad_request(k, "given more than once"));
            }
        }
        Ok(())
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `name` as a count from 1 to [`MAX_COUNT`], `default` when it is not given.
    pub fn count(&self, name: &str, default: usize) -> ApiResult<usize> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.parse() {
                Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(name, format!("expected an integer from 1 to {MAX_COUNT}, got {v:?}"))),
            },
        }
    }

    /// Takes the parameters named in `own` (each at most once) out of the query; the rest
    /// are query-engine filters.
    pub fn split_filters(self, own: &[&str]) -> ApiResult<(Params, FilterSet)> {
        let (mine, rest): (Vec<_>, Vec<_>) = self.0.into_iter().partition(|(k, _)| own.contains(&k.as_str()));
        let mine = Params(mine);
        mine.only(own)?;
        let filters = FilterSet::parse(Params(rest).iter()).map_err(trajstore::Error::from)?;
        Ok((mine, filters))
    }
}

/// An endpoint's query, read from its parameters.
pub trait FromParams: Sized {
    fn from_params(params: Params) -> ApiResult<Self>;
}

/// Extracts `T` from the query string, answering a 400 that names the parameter at fault.
pub struct Query<T>(pub T);

impl<T: FromParams, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        T::from_params(Params::parse(parts.uri.query())?).map(Query)
    }
}

impl FromParams for ListRequest {
    fn from_params(p: Params) -> ApiResult<Self> {
        Ok(ListRequest::parse(p.iter()).map_err(trajstore::Error::from)?)
    }
}

impl FromParams for StatsRequest {
    fn from_params(p: Params) -> ApiResult<Self> {
        Ok(StatsRequest::parse(p.iter())?)
    }
}

impl FromParams for FailureModesRequest {
    fn from_params(p: Params) -> ApiResult<Self> {
        Ok(FailureModesRequest::parse(p.iter())?)
    }
}

impl FromParams for ToolsRequest {
    fn from_params(p: Params) -> ApiResult<Self> {
        Ok(ToolsRequest::parse(p.iter())?)
    }
}

impl FromParams for CurveRequest {
    fn from_params(p: Params) -> ApiResult<Self> {
        Ok(CurveRequest::parse(p.iter())?)
    }
}

/// Reads a JSON request body into `T`; an error names the field at fault (`tags[0]`), or
/// `body` when the JSON itself is broken or not of the expected shape.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let broken = |e: &serde_json::Error| ApiError::bad_request("body", format!("invalid JSON: {e}"));
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return broken(inner);
        }
        let path = e.path().to_string();
        ApiError::bad_request(if path == "." { "body" } else { &path }, inner.to_string())
    })?;
    de.end().map_err(|e| broken(&e))?;
    Ok(value)
}
