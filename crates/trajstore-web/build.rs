//! Embeds the browser libraries that `npm ci` installed (scripts/setup.sh runs it) into
//! the binary. Without them the build still succeeds, and the UI says how to get them,
//! so that `cargo build` alone never fails for want of Node.js.

use std::path::{Path, PathBuf};

/// (file name served under /assets/vendor/, path inside node_modules)
const VENDOR: &[(&str, &str)] = &[
    ("chart.umd.min.js", "chart.js/dist/chart.umd.min.js"),
    ("marked.min.js", "marked/marked.min.js"),
    ("purify.min.js", "dompurify/dist/purify.min.js"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let modules = manifest.join("node_modules");
    println!("cargo:rerun-if-changed=package-lock.json");
    let mut missing = Vec::new();
    for (name, rel) in VENDOR {
        let src = modules.join(rel);
        println!("cargo:rerun-if-changed={}", src.display());
        let dst = out.join(name);
        if src.is_file() {
            std::fs::copy(&src, &dst).expect("copy a vendored asset into OUT_DIR");
        } else {
            missing.push(*rel);
            // A stand-in that tells the page the library is absent.
            std::fs::write(
                &dst,
                format!("window.__trajstoreMissing = (window.__trajstoreMissing || []).concat([{:?}]);\n", rel),
            )
            .expect("write a stand-in asset");
        }
    }
    if !missing.is_empty() {
        println!("cargo:warning=web UI libraries missing ({}); run `bash scripts/setup.sh` (npm ci in {}) for charts and Markdown", missing.join(", "), display(&manifest));
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
