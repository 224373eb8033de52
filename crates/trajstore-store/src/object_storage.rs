//! Stores on object storage (`s3://`, `s3+ddb://`): the options handed to Lance, and
//! the check that a store honours conditional writes before anything is written.
//!
//! Lance commits a version with one conditional put (`If-None-Match: *` on the new
//! manifest), so two writers racing for one version cannot both win. Some S3-compatible
//! stores accept that header and ignore it; both writers then "win" and one commit is
//! lost without an error. The probe puts one scratch key twice with the header and
//! expects the second put to be refused; a store that accepts it gets no writes, with an
//! error that names the ways out. `s3+ddb://` commits through DynamoDB instead and is not
//! probed; neither is a store opened with `single_writer`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use lance_io::object_store::{ObjectStore, ObjectStoreParams, ObjectStoreRegistry, StorageOptionsAccessor};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

/// Where a store lives, as far as its writes are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Local,
    /// `s3://`: commits rely on the store honouring conditional puts.
    S3,
    /// Any other object store (`s3+ddb://`, `gs://`, `az://`, `memory://`): commits go
    /// through a mechanism the store is known to honour.
    OtherObjectStore,
}

pub(crate) fn kind(uri: &str) -> Kind {
    match uri.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase()) {
        None => Kind::Local,
        Some(scheme) if scheme == "file" => Kind::Local,
        Some(scheme) if scheme == "s3" || scheme == "s3a" => Kind::S3,
        Some(_) => Kind::OtherObjectStore,
    }
}

/// The storage options for Lance: the ones given, and `allow_http` when the endpoint
/// (given, or from `AWS_ENDPOINT_URL`/`AWS_ENDPOINT`) is plain HTTP, as a store on the
/// local network or a test server is; object_store refuses such an endpoint otherwise.
pub(crate) fn storage_options(given: &[(String, String)]) -> HashMap<String, String> {
    let mut options: HashMap<String, String> = given.iter().cloned().collect();
    let endpoint = options
        .iter()
        .find(|(k, _)| {
            matches!(
                k.to_ascii_lowercase().as_str(),
                "aws_endpoint" | "aws_endpoint_url" | "aws_endpoint_url_s3" | "endpoint" | "endpoint_url"
            )
        })
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT").ok());
    let allow_http_given = options.keys().any(|k| k.to_ascii_lowercase().contains("allow_http"))
        || std::env::var_os("AWS_ALLOW_HTTP").is_some();
    if endpoint.is_some_and(|e| e.starts_with("http://")) && !allow_http_given {
        options.insert("allow_http".to_string(), "true".to_string());
    }
    options
}

/// The verdict of the probe, per bucket, for the life of the process.
fn verdicts() -> &'static Mutex<HashMap<String, Verdict>> {
    static VERDICTS: OnceLock<Mutex<HashMap<String, Verdict>>> = OnceLock::new();
    VERDICTS.get_or_init(Mutex::default)
}

#[derive(Debug, Clone)]
enum Verdict {
    Honoured,
    Ignored,
}

/// `s3://bucket` of a store's URI: the probe's result holds for the whole bucket.
fn bucket_of(uri: &str) -> String {
    let (scheme, rest) = uri.split_once("://").unwrap_or(("", uri));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or(""))
}

/// Why writes to the store at `uri` must be refused, or `None` when it refuses a second
/// conditional put of one key. A probe that fails (read-only credentials, say) refuses
/// writes with its error but lets the store be read.
pub(crate) async fn write_refusal(uri: &str, options: &HashMap<String, String>) -> Option<String> {
    let bucket = bucket_of(uri);
    let known = verdicts().lock().expect("not poisoned").get(&bucket).cloned();
    let verdict = match known {
        Some(v) => v,
        None => match probe(uri, options).await {
            Ok(v) => {
                verdicts().lock().expect("not poisoned").insert(bucket.clone(), v.clone());
                v
            }
            Err(e) => return Some(format!("{uri}: could not check that the store honours conditional writes: {e}")),
        },
    };
    match verdict {
        Verdict::Honoured => None,
        Verdict::Ignored => Some(format!(
            "{bucket} accepted a second conditional put (If-None-Match: *) of one key, so two \
             writers could both commit one version and one commit would be lost silently. \
             Use s3+ddb://{} (commits through a DynamoDB table) or, when no other process \
             writes to this store, --single-writer",
            uri.split_once("://").map_or(uri, |(_, rest)| rest)
        )),
    }
}

/// The object store at `uri` (a directory too), through the client Lance uses.
async fn object_store_at(
    uri: &str,
    options: &HashMap<String, String>,
) -> lance::Result<(Arc<ObjectStore>, object_store::path::Path)> {
    let params = ObjectStoreParams {
        storage_options_accessor: Some(Arc::new(StorageOptionsAccessor::with_static_options(options.clone()))),
        ..Default::default()
    };
    ObjectStore::from_uri_and_params(Arc::new(ObjectStoreRegistry::default()), uri, &params).await
}

fn create() -> PutOptions {
    PutOptions { mode: PutMode::Create, ..Default::default() }
}

/// Claims the creation of a new store's tables, so that one process creates them. Lance
/// retries a table creation that lost a race as an overwrite of the winner's table at the
/// next version, which would drop rows the winner committed meanwhile; a conditional put
/// of one marker key elects the creator. `false`: another process has claimed it. `true`
/// also when the claim cannot be made (the put failed otherwise): the old behaviour.
pub(crate) async fn claim_table_creation(uri: &str, options: &HashMap<String, String>) -> bool {
    let Ok((store, root)) = object_store_at(uri, options).await else { return true };
    let key = root.clone().join("_trajstore").join("tables-created");
    !matches!(
        store.inner.put_opts(&key, PutPayload::from_static(b"1"), create()).await,
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. })
    )
}

async fn probe(uri: &str, options: &HashMap<String, String>) -> std::result::Result<Verdict, String> {
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let (store, root) = object_store_at(uri, options).await.map_err(|e| failed("opening it", &e))?;
    let nonce = format!(
        "{:x}-{:x}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    );
    let key = root.clone().join("_trajstore").join(format!("conditional-put-probe-{nonce}"));
    store
        .inner
        .put_opts(&key, PutPayload::from_static(b"1"), create())
        .await
        .map_err(|e| failed("the first put", &e))?;
    let second = store.inner.put_opts(&key, PutPayload::from_static(b"2"), create()).await;
    // The scratch key goes either way; a failure to delete it leaves one small object.
    let _ = store.inner.delete(&key).await;
    match second {
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
            Ok(Verdict::Honoured)
        }
        Ok(_) => Ok(Verdict::Ignored),
        Err(e) => Err(failed("the second put", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_location() {
        assert_eq!(kind("/data/store"), Kind::Local);
        assert_eq!(kind("relative/dir"), Kind::Local);
        assert_eq!(kind("file:///data/store"), Kind::Local);
        assert_eq!(kind("s3://bucket/store"), Kind::S3);
        assert_eq!(kind("S3://bucket/store"), Kind::S3);
        assert_eq!(kind("s3+ddb://bucket/store?ddbTableName=t"), Kind::OtherObjectStore);
        assert_eq!(kind("memory://x"), Kind::OtherObjectStore);
    }

    #[test]
    fn the_probe_is_per_bucket() {
        assert_eq!(bucket_of("s3://team/trajstore/run-7"), "s3://team");
        assert_eq!(bucket_of("s3://team"), "s3://team");
    }

    #[test]
    fn an_http_endpoint_is_allowed() {
        let given = vec![("aws_endpoint".to_string(), "http://127.0.0.1:8333".to_string())];
        assert_eq!(storage_options(&given).get("allow_http").map(String::as_str), Some("true"));
        let https = vec![("aws_endpoint".to_string(), "https://s3.example".to_string())];
        if std::env::var_os("AWS_ENDPOINT_URL").is_none() && std::env::var_os("AWS_ENDPOINT").is_none() {
            assert!(!storage_options(&https).contains_key("allow_http"));
        }
        let explicit = vec![given[0].clone(), ("aws_allow_http".to_string(), "false".to_string())];
        assert_eq!(storage_options(&explicit).get("aws_allow_http").map(String::as_str), Some("false"));
        assert!(!storage_options(&explicit).contains_key("allow_http"));
    }
}
