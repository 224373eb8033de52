//! Rendering values as SQL literals for Lance's filter parser.
//!
//! Lance parses filters with sqlparser's generic dialect, in which a string literal is
//! delimited by single quotes, a quote inside it is written twice, and a backslash has no
//! special meaning. LIKE patterns are matched by arrow's kernel, in which `%` and `_` are
//! wildcards and `\` escapes them. Everything a user typed goes through these functions.

/// A string as a SQL literal: `it's` -> `'it''s'`.
pub fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Escapes LIKE's metacharacters so that every character of `s` matches itself.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A user pattern in which `*` stands for any run of characters and nothing else is
/// special, as a LIKE pattern (not yet a literal).
pub fn wildcard_to_like(pattern: &str) -> String {
    pattern.split('*').map(like_escape).collect::<Vec<_>>().join("%")
}

/// A finite float as a literal that parses back to the same f64.
pub fn float_literal(v: f64) -> String {
    debug_assert!(v.is_finite());
    let s = format!("{v:?}");
    // sqlparser reads "1e-7" as a number; Rust's `{:?}` never prints "inf"/"NaN" here.
    s
}

/// The condition `column op v` on an integer column, for op in `=`, `<`, `<=`, `>`,
/// `>=`. i64::MIN has no literal form (the parser reads its magnitude first, which
/// overflows to a float, and Lance then refuses to compare that float with the column),
/// so conditions on it are written with its successor, which has one.
pub fn int_condition(column: &str, op: &str, v: i64) -> String {
    if v != i64::MIN {
        return format!("{column} {op} {v}");
    }
    let next = i64::MIN + 1;
    match op {
        "=" | "<=" => format!("{column} < {next}"),
        ">" => format!("{column} >= {next}"),
        ">=" => format!("{column} IS NOT NULL"),
        "<" => "false".to_string(),
        _ => unreachable!("int_condition: operator {op}"),
    }
}

/// A quoted column name (all our column names are plain identifiers, but quoting keeps
/// reserved words such as `source` safe).
pub fn column(name: &str) -> String {
    debug_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    format!("`{name}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_conditions_cover_the_whole_range() {
        assert_eq!(int_condition("c", "<=", -5), "c <= -5");
        assert_eq!(int_condition("c", ">", i64::MAX), "c > 9223372036854775807");
        assert_eq!(int_condition("c", "=", i64::MIN), "c < -9223372036854775807");
        assert_eq!(int_condition("c", "<=", i64::MIN), "c < -9223372036854775807");
        assert_eq!(int_condition("c", ">", i64::MIN), "c >= -9223372036854775807");
        assert_eq!(int_condition("c", ">=", i64::MIN), "c IS NOT NULL");
        assert_eq!(int_condition("c", "<", i64::MIN), "false");
    }

    #[test]
    fn literals_and_patterns() {
        assert_eq!(string_literal("it's"), "'it''s'");
        assert_eq!(string_literal("a\\b"), "'a\\b'");
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(wildcard_to_like("run-*_x*"), "run-%\\_x%");
        assert_eq!(float_literal(0.1), "0.1");
        assert_eq!(float_literal(1e-7).parse::<f64>().unwrap(), 1e-7);
    }
}
