//! The web UI's files, embedded at build time. The UI is one HTML shell plus a script
//! that renders every page from the JSON API, so each page's state lives in its URL and
//! each page has a JSON twin under `/api/`. The server decides which paths get the shell.

/// A file served under `/assets/`.
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

/// The HTML shell served for every page path (`/`, `/trajectories/...`, `/compare`, ...).
pub const INDEX_HTML: &str = include_str!("../assets/index.html");

/// Page paths the shell answers for; anything else under `/` is a 404.
pub fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/trajectories" | "/compare" | "/statistics" | "/import")
        || path.strip_prefix("/trajectories/").is_some_and(|id| !id.is_empty())
}

/// The asset at `/assets/{name}`, if there is one.
pub fn asset(name: &str) -> Option<Asset> {
    let (bytes, content_type): (&'static [u8], &'static str) = match name {
        "app.js" => (include_bytes!("../assets/app.js"), "text/javascript; charset=utf-8"),
        "app.css" => (include_bytes!("../assets/app.css"), "text/css; charset=utf-8"),
        "favicon.svg" => (include_bytes!("../assets/favicon.svg"), "image/svg+xml"),
        "vendor/chart.umd.min.js" => {
            (include_bytes!(concat!(env!("OUT_DIR"), "/chart.umd.min.js")), "text/javascript; charset=utf-8")
        }
        "vendor/marked.min.js" => {
            (include_bytes!(concat!(env!("OUT_DIR"), "/marked.min.js")), "text/javascript; charset=utf-8")
        }
        "vendor/purify.min.js" => {
            (include_bytes!(concat!(env!("OUT_DIR"), "/purify.min.js")), "text/javascript; charset=utf-8")
        }
        _ => return None,
    };
    Some(Asset { bytes, content_type })
}

/// A version tag for cache validation: assets change only with the binary.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_assets() {
        assert!(is_page("/") && is_page("/trajectories/abc") && is_page("/statistics"));
        assert!(!is_page("/trajectories/") && !is_page("/nope") && !is_page("/api/x"));
        assert!(asset("app.js").is_some_and(|a| !a.bytes.is_empty()));
        assert!(asset("../Cargo.toml").is_none());
        assert!(INDEX_HTML.contains("/assets/app.js"));
    }
}
