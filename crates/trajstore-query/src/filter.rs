//! Filters: parsed from `name=value` pairs, rendered as one escaped SQL predicate.

use crate::sql::{column, float_literal, int_condition, like_escape, string_literal, wildcard_to_like};
use crate::QueryError;

/// Every filter name accepted (besides `metadata.KEY`), for help texts and the API docs.
pub const FILTER_NAMES: &[&str] = &[
    "data_id",
    "agent_name",
    "training_id",
    "trajectory_id",
    "question",
    "termination_reason",
    "reward_exact",
    "reward_min",
    "reward_max",
    "toolcall_reward_exact",
    "toolcall_reward_min",
    "toolcall_reward_max",
    "res_reward_exact",
    "res_reward_min",
    "res_reward_max",
    "epoch_id",
    "epoch_id_min",
    "epoch_id_max",
    "iteration_id",
    "iteration_id_min",
    "iteration_id_max",
    "sample_id",
    "sample_id_min",
    "sample_id_max",
    "is_bookmarked",
    "is_success",
    "step_count_min",
    "step_count_max",
    "exec_time_min",
    "exec_time_max",
    "created_after",
    "created_before",
    "tags",
    "metadata.KEY",
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Float,
    Int,
}

/// Numeric filter names: (name, column, comparison, type).
const NUMERIC: &[(&str, &str, Cmp, Kind)] = &[
    ("reward_exact", "reward", Cmp::Eq, Kind::Float),
    ("reward_min", "reward", Cmp::Ge, Kind::Float),
    ("reward_max", "reward", Cmp::Le, Kind::Float),
    ("toolcall_reward_exact", "toolcall_reward", Cmp::Eq, Kind::Float),
    ("toolcall_reward_min", "toolcall_reward", Cmp::Ge, Kind::Float),
    ("toolcall_reward_max", "toolcall_reward", Cmp::Le, Kind::Float),
    ("res_reward_exact", "res_reward", Cmp::Eq, Kind::Float),
    ("res_reward_min", "res_reward", Cmp::Ge, Kind::Float),
    ("res_reward_max", "res_reward", Cmp::Le, Kind::Float),
    ("exec_time_min", "exec_time", Cmp::Ge, Kind::Float),
    ("exec_time_max", "exec_time", Cmp::Le, Kind::Float),
    ("step_count_min", "step_count", Cmp::Ge, Kind::Int),
    ("step_count_max", "step_count", Cmp::Le, Kind::Int),
    ("epoch_id", "epoch_id", Cmp::Eq, Kind::Int),
    ("epoch_id_min", "epoch_id", Cmp::Ge, Kind::Int),
    ("epoch_id_max", "epoch_id", Cmp::Le, Kind::Int),
    ("iteration_id", "iteration_id", Cmp::Eq, Kind::Int),
    ("iteration_id_min", "iteration_id", Cmp::Ge, Kind::Int),
    ("iteration_id_max", "iteration_id", Cmp::Le, Kind::Int),
    ("sample_id", "sample_id", Cmp::Eq, Kind::Int),
    ("sample_id_min", "sample_id", Cmp::Ge, Kind::Int),
    ("sample_id_max", "sample_id", Cmp::Le, Kind::Int),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ge,
    Le,
    Lt,
}

impl Cmp {
    fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ge => ">=",
            Cmp::Le => "<=",
            Cmp::Lt => "<",
        }
    }
}

/// One typed condition on the summary table. `column` names are from a fixed set.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Exact match; `*` in the pattern matches any run of characters.
    Wildcard {
        column: &'static str,
        pattern: String,
    },
    /// Case-insensitive substring, every character literal.
    Contains {
        column: &'static str,
        needle: String,
    },
    /// Equal to any of the values.
    AnyOf {
        column: &'static str,
        values: Vec<String>,
    },
    Float {
        column: &'static str,
        cmp: Cmp,
        value: f64,
    },
    Int {
        column: &'static str,
        cmp: Cmp,
        value: i64,
    },
    Bool {
        column: &'static str,
        value: bool,
    },
    /// The record carries at least one of the tags.
    TagsAny(Vec<String>),
    /// `metadata.KEY=VALUE`: the metadata value at KEY (dots walk nested objects) is the
    /// string VALUE, or the number, boolean or null that VALUE spells.
    Metadata {
        key: String,
        value: String,
    },
}

/// The filters of one request; all of them must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterSet {
    pub filters: Vec<Filter>,
}

fn parse_f64(name: &str, value: &str) -> Result<f64, QueryError> {
    match value.trim().parse::<f64>() {
        // -0.0 as 0.0: stored values are (see `Trajectory`), and the in-memory index
        // orders -0.0 below 0.0 where SQL finds them equal.
        Ok(v) if v.is_finite() => Ok(v + 0.0),
        _ => Err(QueryError::new(name, format!("expected a number, got {value:?}"))),
    }
}

fn parse_i64(name: &str, value: &str) -> Result<i64, QueryError> {
    match value.trim().parse::<i64>() {
        Ok(v) => Ok(v),
        _ => Err(QueryError::new(name, format!("expected an integer, got {value:?}"))),
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, QueryError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(QueryError::new(name, format!("expected true or false, got {value:?}"))),
    }
}

fn parse_list(name: &str, value: &str) -> Result<Vec<String>, QueryError> {
    let values: Vec<String> = value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(String::from).collect();
    if values.is_empty() {
        return Err(QueryError::new(name, "expected one or more comma-separated values"));
    }
    Ok(values)
}

impl FilterSet {
    /// Parses filter pairs. Unknown names and values of the wrong type are errors naming
    /// the parameter; so is an empty substring filter (`question`, `trajectory_id`), which
    /// would match everything. An exact filter's empty value asks for rows holding "".
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, QueryError> {
        let mut set = FilterSet::default();
        for (name, value) in pairs {
            set.filters.push(Filter::parse(name, value)?);
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// The predicate for Lance's `only_if`, or `None` when there is no filter.
    pub fn to_sql(&self) -> Option<String> {
        if self.filters.is_empty() {
            return None;
        }
        Some(self.filters.iter().map(|f| format!("({})", f.to_sql())).collect::<Vec<_>>().join(" AND "))
    }

    /// This set plus one more condition given as SQL (a cursor's keyset bound).
    pub fn sql_with(&self, extra: Option<&str>) -> Option<String> {
        match (self.to_sql(), extra) {
            (Some(a), Some(b)) => Some(format!("{a} AND ({b})")),
            (Some(a), None) => Some(a),
            (None, Some(b)) => Some(format!("({b})")),
            (None, None) => None,
        }
    }
}

impl Filter {
    pub fn parse(name: &str, value: &str) -> Result<Self, QueryError> {
        if let Some(key) = name.strip_prefix("metadata.") {
            if key.is_empty() {
                return Err(QueryError::new(name, "expected metadata.KEY=VALUE with a key"));
            }
            return Ok(Filter::Metadata { key: key.to_string(), value: value.to_string() });
        }
        if let Some(&(_, column, cmp, kind)) = NUMERIC.iter().find(|(n, ..)| *n == name) {
            return Ok(match kind {
                Kind::Float => Filter::Float { column, cmp, value: parse_f64(name, value)? },
                Kind::Int => Filter::Int { column, cmp, value: parse_i64(name, value)? },
            });
        }
        let filter = match name {
            "data_id" => Filter::Wildcard { column: "data_id", pattern: value.to_string() },
            "agent_name" => Filter::Wildcard { column: "agent_name", pattern: value.to_string() },
            "training_id" => Filter::Wildcard { column: "training_id", pattern: value.to_string() },
            // Every text contains the empty string: refused rather than matching all rows.
            "trajectory_id" | "question" if value.is_empty() => {
                return Err(QueryError::new(name, "expected some text to look for, got an empty value"))
            }
            "trajectory_id" => Filter::Contains { column: "trajectory_id", needle: value.to_string() },
            "question" => Filter::Contains { column: "question", needle: value.to_string() },
            "termination_reason" => Filter::AnyOf { column: "termination_reason", values: parse_list(name, value)? },
            "tags" => Filter::TagsAny(parse_list(name, value)?),
            "is_bookmarked" => Filter::Bool { column: "is_bookmarked", value: parse_bool(name, value)? },
            "is_success" => Filter::Bool { column: "is_success", value: parse_bool(name, value)? },
            "created_after" | "created_before" => {
                let micros = trajstore_model::parse_timestamp(value).ok_or_else(|| {
                    QueryError::new(name, format!("expected epoch seconds or an RFC 3339 date, got {value:?}"))
                })?;
                let cmp = if name == "created_after" { Cmp::Ge } else { Cmp::Lt };
                Filter::Int { column: "created_at", cmp, value: micros }
            }
            _ => {
                return Err(QueryError::new(
                    name,
                    format!("unknown filter; known filters: {}", FILTER_NAMES.join(", ")),
                ));
            }
        };
        Ok(filter)
    }

    pub fn to_sql(&self) -> String {
        match self {
            Filter::Wildcard { column: c, pattern } if pattern.contains('*') => {
                format!("{} LIKE {} ESCAPE '\\'", column(c), string_literal(&wildcard_to_like(pattern)))
            }
            Filter::Wildcard { column: c, pattern } => format!("{} = {}", column(c), string_literal(pattern)),
            Filter::Contains { column: c, needle } => {
                let pattern = format!("%{}%", like_escape(&needle.to_lowercase()));
                format!("lower({}) LIKE {} ESCAPE '\\'", column(c), string_literal(&pattern))
            }
            Filter::AnyOf { column: c, values } => {
                format!(
                    "{} IN ({})",
                    column(c),
                    values.iter().map(|v| string_literal(v)).collect::<Vec<_>>().join(", ")
                )
            }
            Filter::Float { column: c, cmp, value } => format!("{} {} {}", column(c), cmp.sql(), float_literal(*value)),
            Filter::Int { column: c, cmp, value } => int_condition(&column(c), cmp.sql(), *value),
            Filter::Bool { column: c, value } => format!("{} = {}", column(c), value),
            Filter::TagsAny(tags) => list_has_any("tags", tags.iter().map(|t| t.as_str())),
            Filter::Metadata { key, value } => {
                let candidates = metadata_candidates(key, value);
                list_has_any("metadata_kv", candidates.iter().map(|s| s.as_str()))
            }
        }
    }
}

fn list_has_any<'a>(col: &str, values: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = values.map(string_literal).collect();
    format!("array_has_any({}, make_array({}))", column(col), items.join(", "))
}

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
fn metadata_candidates(key: &str, value: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(pairs: &[(&str, &str)]) -> String {
        FilterSet::parse(pairs.iter().copied()).unwrap().to_sql().unwrap()
    }

    #[test]
    fn renders_escaped_sql() {
        assert_eq!(sql(&[("training_id", "run-7")]), "(`training_id` = 'run-7')");
        assert_eq!(sql(&[("data_id", "o'k*%")]), "(`data_id` LIKE 'o''k%\\%' ESCAPE '\\')");
        assert_eq!(sql(&[("question", "50%_A")]), "(lower(`question`) LIKE '%50\\%\\_a%' ESCAPE '\\')");
        assert_eq!(
            sql(&[("termination_reason", "success, weird'")]),
            "(`termination_reason` IN ('success', 'weird'''))"
        );
        assert_eq!(sql(&[("reward_min", "0.5"), ("epoch_id_max", "3")]), "(`reward` >= 0.5) AND (`epoch_id` <= 3)");
        assert_eq!(sql(&[("is_success", "false")]), "(`is_success` = false)");
        assert_eq!(sql(&[("tags", "a,b")]), "(array_has_any(`tags`, make_array('a', 'b')))");
        assert_eq!(sql(&[("reward_exact", "1")]), "(`reward` = 1.0)");
    }

    #[test]
    fn rejects_unknown_names_and_bad_values() {
        for (name, value) in [
            ("rewrd_min", "1"),
            ("reward_min", "high"),
            ("epoch_id", "1.5"),
            ("is_success", "maybe"),
            ("reward", "1"),
            ("step_count", "3"),
            ("tags", " , "),
            ("created_after", "tuesday"),
            ("metadata.", "x"),
            ("reward_min", "NaN"),
            ("epoch_id_exact", "1"),
        ] {
            let e = FilterSet::parse([(name, value)]).unwrap_err();
            assert_eq!(e.parameter, name, "{name}={value}: {e}");
        }
    }

    #[test]
    fn metadata_entries_are_unambiguous() {
        let m = serde_json::json!({"model": "q", "t": 1, "nested": {"a": true}, "list": [1], "a\":1": "x"});
        let e = metadata_entries(&m);
        assert!(e.contains(&r#""model":"q""#.to_string()));
        assert!(e.contains(&r#""t":1.0"#.to_string()));
        assert!(e.contains(&r#""nested.a":true"#.to_string()));
        assert_eq!(e.len(), 4);
        assert!(metadata_candidates("t", "1").contains(&r#""t":1.0"#.to_string()));
        assert!(!metadata_candidates("model", "1").contains(&r#""model":"q""#.to_string()));
    }
}
