//! The `metadata_kv` column: the entries a record's metadata is indexed as, and the
//! entries a `metadata.KEY=VALUE` filter looks for.

/// The canonical text of a scalar metadata value inside one `metadata_kv` entry.
fn canonical_scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(serde_json::to_string(s).expect("a str serialises")),
        serde_json::Value::Number(n) => n.as_f64().map(|f| serde_json::to_string(&f).expect("finite")),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Null => Some("null".to_string()),
        _ => None,
    }
}

fn entry(key: &str, canonical: &str) -> String {
    format!("{}:{canonical}", serde_json::to_string(key).expect("a str serialises"))
}

/// The `metadata_kv` column of a record: one entry per scalar value in its metadata,
/// `"KEY":VALUE` with KEY the dotted path as a JSON string and VALUE canonical JSON
/// (numbers as f64). Quoting the key keeps `a=b` entries unambiguous whatever the
/// characters; arrays are not indexed.
pub fn metadata_entries(metadata: &serde_json::Value) -> Vec<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&path, child, out);
                }
            }
            serde_json::Value::Array(_) => {}
            scalar => {
                if let Some(c) = canonical_scalar(scalar) {
                    out.push(entry(prefix, &c));
                }
            }
        }
    }
    let mut out = Vec::new();
    if metadata.is_object() {
        walk("", metadata, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// The entries that `metadata.KEY=VALUE` accepts: VALUE as a string, and as the number,
/// boolean or null it spells.
pub(crate) fn metadata_candidates(key: &str, value: &str) -> Vec<String> {
    let mut out = vec![entry(key, &serde_json::to_string(value).expect("a str serialises"))];
    if let Ok(f) = value.trim().parse::<f64>() {
        if f.is_finite() {
            out.push(entry(key, &serde_json::to_string(&f).expect("finite")));
        }
    }
    if matches!(value, "true" | "false" | "null") {
        out.push(entry(key, value));
    }
    out
}
