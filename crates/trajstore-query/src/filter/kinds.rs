//! The filter kinds. Each one holds its two renderings side by side: [`FilterKind::sql`],
//! the predicate Lance evaluates, and `matches`, the same condition on one row's value,
//! from which [`FilterKind::row_test`] builds the in-memory index's test. A kind cannot
//! be written without both (the trait requires them), and `Filter` dispatches every
//! variant to both in one exhaustive match.

use crate::filter::columns::{Columns, RowTest};
use crate::filter::metadata::metadata_candidates;
use crate::sql::{column, float_literal, int_condition, like_escape, string_literal, wildcard_to_like};

pub trait FilterKind {
    /// The condition as a SQL predicate in which every user string is escaped.
    fn sql(&self) -> String;
    /// The condition as a test of rows in memory: the kind's `matches`, or an equivalent
    /// over coded columns; `None` when `columns` does not hold what it needs.
    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>>;
}

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

    /// Whether `row_value` compared with `filter_value` satisfies the comparison.
    fn holds<T: Ord>(self, row_value: T, filter_value: T) -> bool {
        match self {
            Cmp::Eq => row_value == filter_value,
            Cmp::Ge => row_value >= filter_value,
            Cmp::Le => row_value <= filter_value,
            Cmp::Lt => row_value < filter_value,
        }
    }
}

/// Exact match; `*` in the pattern matches any run of characters.
#[derive(Debug, Clone, PartialEq)]
pub struct Wildcard {
    pub column: &'static str,
    pub pattern: String,
}

impl Wildcard {
    pub fn matches(&self, value: Option<&str>) -> bool {
        value.is_some_and(|v| wildcard_match(&self.pattern, v))
    }
}

impl FilterKind for Wildcard {
    fn sql(&self) -> String {
        if self.pattern.contains('*') {
            format!("{} LIKE {} ESCAPE '\\'", column(self.column), string_literal(&wildcard_to_like(&self.pattern)))
        } else {
            format!("{} = {}", column(self.column), string_literal(&self.pattern))
        }
    }

    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        if let Some(dict) = columns.coded(self.column) {
            if self.pattern.contains('*') {
                return Some(dict.test_each_value(|v| self.matches(Some(v))));
            }
            // Without a `*` one value passes: a binary search finds its code, and rows
            // compare codes.
            return Some(match dict.find(&self.pattern) {
                Ok(code) => Box::new(move |i| dict.codes[i] == code),
                Err(_) => Box::new(|_| false),
            });
        }
        let values = columns.strings(self.column)?;
        Some(Box::new(move |i| self.matches(values(i))))
    }
}

/// Case-insensitive substring, every character literal.
#[derive(Debug, Clone, PartialEq)]
pub struct Contains {
    pub column: &'static str,
    /// Lower-cased once here, not per row.
    needle: String,
}

impl Contains {
    pub fn new(column: &'static str, needle: &str) -> Self {
        Contains { column, needle: needle.to_lowercase() }
    }

    pub fn matches(&self, value: Option<&str>) -> bool {
        value.is_some_and(|v| contains_folded(v, &self.needle))
    }
}

impl FilterKind for Contains {
    fn sql(&self) -> String {
        let pattern = format!("%{}%", like_escape(&self.needle));
        format!("lower({}) LIKE {} ESCAPE '\\'", column(self.column), string_literal(&pattern))
    }

    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        if let Some(dict) = columns.coded(self.column) {
            return Some(dict.test_each_value(|v| self.matches(Some(v))));
        }
        let values = columns.strings(self.column)?;
        Some(Box::new(move |i| self.matches(values(i))))
    }
}

/// Equal to any of the values.
#[derive(Debug, Clone, PartialEq)]
pub struct AnyOf {
    pub column: &'static str,
    pub values: Vec<String>,
}

impl AnyOf {
    pub fn matches(&self, value: Option<&str>) -> bool {
        value.is_some_and(|v| self.values.iter().any(|w| w == v))
    }
}

impl FilterKind for AnyOf {
    fn sql(&self) -> String {
        let items: Vec<String> = self.values.iter().map(|v| string_literal(v)).collect();
        format!("{} IN ({})", column(self.column), items.join(", "))
    }

    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        if let Some(dict) = columns.coded(self.column) {
            let pass = dict.codes_of(self.values.iter().map(String::as_str));
            return Some(Box::new(move |i| dict.codes[i] != crate::NULL_CODE && pass[dict.codes[i] as usize]));
        }
        let values = columns.strings(self.column)?;
        Some(Box::new(move |i| self.matches(values(i))))
    }
}

/// A float column compared with a finite value. In memory in total order; that differs
/// from SQL only for -0.0 against 0.0, and -0.0 reaches neither side (parsing and storing
/// make it 0.0).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatCmp {
    pub column: &'static str,
    pub cmp: Cmp,
    pub value: f64,
}

impl FloatCmp {
    pub fn matches(&self, value: Option<f64>) -> bool {
        self.matcher()(value)
    }

    /// `matches` with the filter's side computed once, not once per row.
    fn matcher(&self) -> impl Fn(Option<f64>) -> bool {
        let (cmp, key) = (self.cmp, total_order_key(self.value));
        move |value| value.is_some_and(|x| cmp.holds(total_order_key(x), key))
    }
}

impl FilterKind for FloatCmp {
    fn sql(&self) -> String {
        format!("{} {} {}", column(self.column), self.cmp.sql(), float_literal(self.value))
    }

    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        let (values, matches) = (columns.floats(self.column)?, self.matcher());
        Some(Box::new(move |i| matches(values(i))))
    }
}

/// Floats as integers in the same total order (that of `f64::total_cmp`), which compare
/// faster than `total_cmp`'s `Ordering`.
fn total_order_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b ^ (1 << 63)
    }
}

/// An integer column (ids, counts, times in microseconds) compared with a value.
#[derive(Debug, Clone, PartialEq)]
pub struct IntCmp {
    pub column: &'static str,
    pub cmp: Cmp,
    pub value: i64,
}

impl IntCmp {
    pub fn matches(&self, value: Option<i64>) -> bool {
        self.matcher()(value)
    }

    /// `matches` with the filter's fields copied into the closure, not read per row.
    fn matcher(&self) -> impl Fn(Option<i64>) -> bool {
        let (cmp, v) = (self.cmp, self.value);
        move |value| value.is_some_and(|x| cmp.holds(x, v))
    }
}

impl FilterKind for IntCmp {
    fn sql(&self) -> String {
        int_condition(&column(self.column), self.cmp.sql(), self.value)
    }

    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        let (values, matches) = (columns.ints(self.column)?, self.matcher());
        Some(Box::new(move |i| matches(values(i))))
    }
}

/// A boolean column equal to a value (a null is neither).
#[derive(Debug, Clone, PartialEq)]
pub struct BoolIs {
    pub column: &'static str,
    pub value: bool,
}

impl BoolIs {
    pub fn matches(&self, value: Option<bool>) -> bool {
        value == Some(self.value)
    }
}

impl FilterKind for BoolIs {
    fn sql(&self) -> String {
        format!("{} = {}", column(self.column), self.value)
    }

    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        let values = columns.bools(self.column)?;
        Some(Box::new(move |i| self.matches(values(i))))
    }
}

/// The record carries at least one of the tags.
#[derive(Debug, Clone, PartialEq)]
pub struct TagsAny {
    pub tags: Vec<String>,
}

impl TagsAny {
    pub fn matches<'v>(&self, row_tags: impl IntoIterator<Item = &'v str>) -> bool {
        row_tags.into_iter().any(|t| self.tags.iter().any(|w| w == t))
    }
}

impl FilterKind for TagsAny {
    fn sql(&self) -> String {
        list_has_any("tags", self.tags.iter().map(String::as_str))
    }

    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        Some(columns.coded_lists("tags")?.test_any(self.tags.iter().map(String::as_str)))
    }
}

/// `metadata.KEY=VALUE`: the metadata value at KEY (dots walk nested objects) is the
/// string VALUE, or the number, boolean or null that VALUE spells. Evaluated over the
/// `metadata_kv` entries (see [`crate::metadata_entries`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub key: String,
    pub value: String,
}

impl Metadata {
    /// `entries`: the row's `metadata_kv` column.
    pub fn matches<'v>(&self, entries: impl IntoIterator<Item = &'v str>) -> bool {
        let candidates = metadata_candidates(&self.key, &self.value);
        entries.into_iter().any(|e| candidates.iter().any(|c| c == e))
    }
}

impl FilterKind for Metadata {
    fn sql(&self) -> String {
        let candidates = metadata_candidates(&self.key, &self.value);
        list_has_any("metadata_kv", candidates.iter().map(String::as_str))
    }

    fn row_test<'a, C: Columns>(&'a self, columns: &'a C) -> Option<RowTest<'a>> {
        let candidates = metadata_candidates(&self.key, &self.value);
        Some(columns.coded_lists("metadata_kv")?.test_any(candidates.iter().map(String::as_str)))
    }
}

fn list_has_any<'a>(col: &str, values: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = values.map(string_literal).collect();
    format!("array_has_any({}, make_array({}))", column(col), items.join(", "))
}

/// `*` matches any run of characters; every other character matches itself.
pub(crate) fn wildcard_match(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(last) = pattern.rfind('*').map(|p| &pattern[p + 1..]) else {
        return pattern == value;
    };
    if value.len() < first.len() + last.len() || !value.starts_with(first) || !value.ends_with(last) {
        return false;
    }
    // Leftmost matches of the middle parts, in order, between the prefix and suffix.
    let mut rest = &value[first.len()..value.len() - last.len()];
    let middle = &pattern[first.len() + 1..pattern.len() - last.len()];
    for mid in middle.split('*').filter(|m| !m.is_empty()) {
        match rest.find(mid) {
            Some(p) => rest = &rest[p + mid.len()..],
            None => return false,
        }
    }
    true
}

/// `lower(hay)` contains `needle_lower` (already lower-cased), as SQL's `lower() LIKE`.
pub(crate) fn contains_folded(hay: &str, needle_lower: &str) -> bool {
    if hay.is_ascii() {
        // ASCII text lower-cases to ASCII, so only an ASCII needle can occur in it; and
        // comparing byte by byte avoids allocating a lower-cased copy of every value.
        if !needle_lower.is_ascii() {
            return false;
        }
        let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
        return n.is_empty()
            || (h.len() >= n.len()
                && h.windows(n.len()).any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b)));
    }
    hay.to_lowercase().contains(needle_lower)
}
