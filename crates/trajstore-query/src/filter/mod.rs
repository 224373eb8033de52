//! Filters: parsed from `name=value` pairs, rendered as one escaped SQL predicate for
//! Lance, or evaluated over rows in memory (the server's in-memory index). Both come from
//! the same definition: a kind in `kinds.rs` per kind of condition.
//!
//! The column filters' names and kinds come from the column table
//! (`trajstore_model::COLUMNS`): a column's `filter` says which parameters it has and
//! [`Filter::parse`] maps each to its kind. Adding a kind: a struct implementing
//! [`FilterKind`] in `kinds.rs`, a variant of [`Filter`] and an arm in `each_kind!`
//! (the compiler refuses a variant without one, and a kind without both renderings).

mod columns;
mod kinds;
mod metadata;

pub use columns::{Coded, CodedLists, Columns, RowTest, NULL_CODE};
#[cfg(test)]
use kinds::{contains_folded, wildcard_match};
pub use kinds::{AnyOf, BoolIs, Cmp, Contains, FilterKind, FloatCmp, IntCmp, Metadata, TagsAny, Wildcard};
pub use metadata::metadata_entries;

use std::sync::LazyLock;

use trajstore_model::{filter_names, Column, ColumnFilter, ColumnType, Comparison, COLUMNS};

use crate::QueryError;

/// One column filter parameter: its name, its column and the comparison it makes.
struct ColumnParam {
    name: String,
    column: &'static Column,
    cmp: Comparison,
}

/// Every column filter parameter, derived from the column table.
static COLUMN_PARAMS: LazyLock<Vec<ColumnParam>> = LazyLock::new(|| {
    COLUMNS
        .iter()
        .flat_map(|column| filter_names(column).into_iter().map(move |(name, cmp)| ColumnParam { name, column, cmp }))
        .collect()
});

/// Every filter name accepted (the column filters of the column table, then
/// `metadata.KEY`), for help texts and the API docs.
pub static FILTER_NAMES: LazyLock<Vec<String>> =
    LazyLock::new(|| COLUMN_PARAMS.iter().map(|p| p.name.clone()).chain(["metadata.KEY".to_string()]).collect());

/// The type of a filter's value, for documents that describe the filters (the API's
/// OpenAPI document, help texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterValue {
    /// Exact text; `*` matches any run of characters.
    Wildcard,
    /// Text looked for anywhere in the value, ignoring case.
    Substring,
    /// Comma-separated texts, any of which matches.
    TextList,
    Integer,
    Number,
    Boolean,
    /// Epoch seconds or an RFC 3339 date.
    Timestamp,
}

/// One accepted filter parameter (besides `metadata.KEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterParam {
    pub name: String,
    pub value: FilterValue,
}

/// Every accepted filter parameter with the type of its value.
pub fn filter_params() -> Vec<FilterParam> {
    COLUMN_PARAMS
        .iter()
        .map(|p| {
            let value = match p.column.filter {
                ColumnFilter::Wildcard => FilterValue::Wildcard,
                ColumnFilter::Substring => FilterValue::Substring,
                ColumnFilter::AnyOf | ColumnFilter::ListAny => FilterValue::TextList,
                ColumnFilter::Bool => FilterValue::Boolean,
                ColumnFilter::Time => FilterValue::Timestamp,
                ColumnFilter::Range(_) if p.column.ty == ColumnType::Float => FilterValue::Number,
                ColumnFilter::Range(_) | ColumnFilter::Off => FilterValue::Integer,
            };
            FilterParam { name: p.name.clone(), value }
        })
        .collect()
}

/// One typed condition on the summary table. Column names are from a fixed set.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Wildcard(Wildcard),
    Contains(Contains),
    AnyOf(AnyOf),
    Float(FloatCmp),
    Int(IntCmp),
    Bool(BoolIs),
    TagsAny(TagsAny),
    Metadata(Metadata),
}

/// `$body` with `$kind` bound to the filter's kind: the one match over every variant,
/// through which both renderings go.
macro_rules! each_kind {
    ($filter:expr, $kind:ident => $body:expr) => {
        match $filter {
            Filter::Wildcard($kind) => $body,
            Filter::Contains($kind) => $body,
            Filter::AnyOf($kind) => $body,
            Filter::Float($kind) => $body,
            Filter::Int($kind) => $body,
            Filter::Bool($kind) => $body,
            Filter::TagsAny($kind) => $body,
            Filter::Metadata($kind) => $body,
        }
    };
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

    /// The filters on `columns`, and the others.
    pub fn split_by_columns(&self, columns: &[&str]) -> (FilterSet, FilterSet) {
        let (on, off) = self.filters.iter().cloned().partition(|f| f.column().is_some_and(|c| columns.contains(&c)));
        (FilterSet { filters: on }, FilterSet { filters: off })
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

    /// The rows of `columns` matching every filter, in row order; `None` when a filter
    /// cannot be evaluated over them (the caller then asks Lance).
    pub fn select<C: Columns>(&self, columns: &C) -> Option<Vec<u32>> {
        let tests: Vec<RowTest<'_>> = self.filters.iter().map(|f| f.row_test(columns)).collect::<Option<_>>()?;
        let mut rows: Option<Vec<u32>> = None;
        // The first test scans every row; the others only the rows still in.
        for test in &tests {
            rows = Some(match rows {
                None => (0..columns.rows()).filter(|&i| test(i)).map(|i| i as u32).collect(),
                Some(mut r) => {
                    r.retain(|&i| test(i as usize));
                    r
                }
            });
        }
        Some(rows.unwrap_or_else(|| (0..columns.rows() as u32).collect()))
    }
}

impl Filter {
    pub fn parse(name: &str, value: &str) -> Result<Self, QueryError> {
        if let Some(key) = name.strip_prefix("metadata.") {
            if key.is_empty() {
                return Err(QueryError::new(name, "expected metadata.KEY=VALUE with a key"));
            }
            return Ok(Filter::Metadata(Metadata { key: key.to_string(), value: value.to_string() }));
        }
        let Some(param) = COLUMN_PARAMS.iter().find(|p| p.name == name) else {
            return Err(QueryError::new(name, format!("unknown filter; known filters: {}", FILTER_NAMES.join(", "))));
        };
        let column = param.column.name;
        let cmp = match param.cmp {
            Comparison::Eq => Cmp::Eq,
            Comparison::Ge => Cmp::Ge,
            Comparison::Le => Cmp::Le,
            Comparison::Lt => Cmp::Lt,
        };
        Ok(match param.column.filter {
            ColumnFilter::Wildcard => Filter::Wildcard(Wildcard { column, pattern: value.to_string() }),
            // Every text contains the empty string: refused rather than matching all rows.
            ColumnFilter::Substring if value.is_empty() => {
                return Err(QueryError::new(name, "expected some text to look for, got an empty value"))
            }
            ColumnFilter::Substring => Filter::Contains(Contains::new(column, value)),
            ColumnFilter::AnyOf => Filter::AnyOf(AnyOf { column, values: parse_list(name, value)? }),
            ColumnFilter::ListAny => Filter::TagsAny(TagsAny { tags: parse_list(name, value)? }),
            ColumnFilter::Bool => Filter::Bool(BoolIs { column, value: parse_bool(name, value)? }),
            ColumnFilter::Range(_) if param.column.ty == ColumnType::Float => {
                Filter::Float(FloatCmp { column, cmp, value: parse_f64(name, value)? })
            }
            ColumnFilter::Range(_) | ColumnFilter::Off => {
                Filter::Int(IntCmp { column, cmp, value: parse_i64(name, value)? })
            }
            ColumnFilter::Time => {
                let micros = trajstore_model::parse_timestamp(value).ok_or_else(|| {
                    QueryError::new(name, format!("expected epoch seconds or an RFC 3339 date, got {value:?}"))
                })?;
                Filter::Int(IntCmp { column, cmp, value: micros })
            }
        })
    }

    pub fn to_sql(&self) -> String {
        each_kind!(self, kind => kind.sql())
    }

    /// The summary column this filter tests; `None` for tags and metadata.
    pub fn column(&self) -> Option<&'static str> {
        match self {
            Filter::Wildcard(f) => Some(f.column),
            Filter::Contains(f) => Some(f.column),
            Filter::AnyOf(f) => Some(f.column),
            Filter::Float(f) => Some(f.column),
            Filter::Int(f) => Some(f.column),
            Filter::Bool(f) => Some(f.column),
            Filter::TagsAny(_) | Filter::Metadata(_) => None,
        }
    }

    /// The in-memory test of this filter over `columns`; `None` when they lack a column it
    /// needs.
    pub fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        each_kind!(self, kind => kind.row_test(columns))
    }
}

#[cfg(test)]
mod tests {
    use super::metadata::metadata_candidates;
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
    fn every_documented_filter_parses_with_a_value_of_its_type() {
        for p in filter_params() {
            let value = match p.value {
                FilterValue::Wildcard | FilterValue::Substring | FilterValue::TextList => "a",
                FilterValue::Integer => "3",
                FilterValue::Number => "0.5",
                FilterValue::Boolean => "true",
                FilterValue::Timestamp => "2026-01-01T00:00:00Z",
            };
            Filter::parse(&p.name, value).unwrap_or_else(|e| panic!("{}={value}: {e}", p.name));
        }
        assert_eq!(filter_params().len(), FILTER_NAMES.len() - 1);
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

#[cfg(test)]
mod kinds_tests;
