//! The web UI's files, embedded at build time. The UI is one HTML shell plus native ES
//! modules (`assets/js/`, entry `main.js`, one module per page) that render every page
//! from the JSON API, so each page's state lives in its URL and each page has a JSON twin
//! under `/api/`. The server decides which paths get the shell.

/// A file served under `/assets/`.
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

/// The HTML shell served for every page path (`/`, `/trajectories/...`, `/compare`, ...).
pub const INDEX_HTML: &str = include_str!("../assets/index.html");

/// Page paths the shell answers for; anything else under `/` is a 404.
pub fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/trajectories" | "/compare" | "/statistics" | "/failure-modes" | "/sql" | "/import")
        || path.strip_prefix("/trajectories/").is_some_and(|id| !id.is_empty())
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// (`js/{file}`, bytes) for each file `assets/js/{file}`, from the file names.
macro_rules! modules {
    ($($file:literal),* $(,)?) => {
        &[$((concat!("js/", $file), include_bytes!(concat!("../assets/js/", $file)))),*]
    };
}

/// The UI's ES modules, served as `/assets/js/{file}`: `main.js` is the entry point and
/// imports the others by relative paths. A module missing here is a 404 in the browser;
/// the tests below check that every file in `assets/js/` is listed.
pub const MODULES: &[(&str, &[u8])] = modules![
    "api.js",
    "compare.js",
    "detail.js",
    "dom.js",
    "failure_modes.js",
    "filters.js",
    "format.js",
    "import.js",
    "list.js",
    "live.js",
    "main.js",
    "nav.js",
    "patch.js",
    "related.js",
    "schema.js",
    "search.js",
    "sql.js",
    "statistics.js",
    "steps.js",
    "tools.js",
    "training.js",
    "verifier.js",
];

/// The asset at `/assets/{name}`, if there is one. Names are looked up, never joined to a
/// path, so `..` cannot reach outside the embedded files.
pub fn asset(name: &str) -> Option<Asset> {
    if let Some((_, bytes)) = MODULES.iter().find(|(file, _)| *file == name) {
        return Some(Asset { bytes, content_type: JAVASCRIPT });
    }
    let (bytes, content_type): (&'static [u8], &'static str) = match name {
        "app.css" => (include_bytes!("../assets/app.css"), "text/css; charset=utf-8"),
        "favicon.svg" => (include_bytes!("../assets/favicon.svg"), "image/svg+xml"),
        "vendor/chart.umd.min.js" => (include_bytes!(concat!(env!("OUT_DIR"), "/chart.umd.min.js")), JAVASCRIPT),
        "vendor/marked.min.js" => (include_bytes!(concat!(env!("OUT_DIR"), "/marked.min.js")), JAVASCRIPT),
        "vendor/purify.min.js" => (include_bytes!(concat!(env!("OUT_DIR"), "/purify.min.js")), JAVASCRIPT),
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
        let main = asset("js/main.js").expect("the entry module");
        assert!(!main.bytes.is_empty() && main.content_type.starts_with("text/javascript"));
        for name in ["../Cargo.toml", "js/../app.css", "js/nope.js", "app.js", "js/", "js"] {
            assert!(asset(name).is_none(), "{name}");
        }
        assert!(INDEX_HTML.contains(r#"<script type="module" src="/assets/js/main.js"></script>"#));
    }

    /// Every file in `assets/js/` is served, so a new module cannot be forgotten in MODULES.
    #[test]
    fn every_module_file_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/js");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".js"))
            .collect();
        files.sort();
        let served: Vec<&str> = MODULES.iter().map(|(name, _)| name.strip_prefix("js/").unwrap()).collect();
        assert_eq!(files, served, "MODULES lists assets/js/*.js, sorted");
    }

    /// Each module's imports (`from './x.js'`) resolve to a served module next to it.
    #[test]
    fn every_import_resolves() {
        for (name, bytes) in MODULES {
            let text = std::str::from_utf8(bytes).unwrap();
            let mut count = 0;
            for (i, _) in text.match_indices("from '") {
                let spec = text[i + 6..].split('\'').next().unwrap();
                let file = spec.strip_prefix("./").unwrap_or_else(|| panic!("{name} imports {spec:?}: not ./x.js"));
                assert!(asset(&format!("js/{file}")).is_some(), "{name} imports {spec}, which is not served");
                count += 1;
            }
            assert!(count > 5 || *name != "js/main.js", "main.js imports every page: is the parse right?");
        }
    }
}
