//! Each kind's SQL text, its `matches` on edge cases, and its row tests (over coded and
//! plain columns) against `matches` row by row. That SQL and memory select the same rows
//! through Lance is tested in the trajstore crate (`filter_kinds.rs`, `query_reference.rs`).

use super::*;

/// One column of every type (any column name reads it), coded or plain.
#[derive(Default)]
struct Table {
    strings: Vec<Option<&'static str>>,
    floats: Vec<Option<f64>>,
    ints: Vec<Option<i64>>,
    bools: Vec<Option<bool>>,
    lists: Vec<Vec<String>>,
    coded: bool,
    dict: (Vec<Box<str>>, Vec<u32>),
    list_dict: (Vec<Box<str>>, Vec<u32>, Vec<u32>),
}

fn sorted_distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<Box<str>> {
    let mut v: Vec<Box<str>> = values.map(Box::from).collect();
    v.sort();
    v.dedup();
    v
}

impl Table {
    fn new(rows: usize) -> Self {
        Table { strings: vec![None; rows], ..Default::default() }
    }

    /// The same table with its strings and lists dictionary-coded.
    fn coded(mut self) -> Self {
        let values = sorted_distinct(self.strings.iter().flatten().copied());
        let find = |vs: &[Box<str>], s: &str| vs.binary_search_by(|v| v.as_ref().cmp(s)).unwrap() as u32;
        let codes = self.strings.iter().map(|s| s.map_or(NULL_CODE, |s| find(&values, s))).collect();
        self.dict = (values, codes);
        let values = sorted_distinct(self.lists.iter().flatten().map(String::as_str));
        let (mut offsets, mut codes) = (vec![0u32], Vec::new());
        for row in &self.lists {
            codes.extend(row.iter().map(|s| find(&values, s)));
            offsets.push(codes.len() as u32);
        }
        self.list_dict = (values, offsets, codes);
        self.coded = true;
        self
    }
}

impl Columns for Table {
    fn rows(&self) -> usize {
        self.strings.len().max(self.floats.len()).max(self.ints.len()).max(self.bools.len()).max(self.lists.len())
    }
    fn coded(&self, _: &'static str) -> Option<Coded<'_>> {
        self.coded.then(|| Coded { values: &self.dict.0, codes: &self.dict.1 })
    }
    fn coded_lists(&self, _: &'static str) -> Option<CodedLists<'_>> {
        let (values, offsets, codes) = &self.list_dict;
        self.coded.then_some(CodedLists { values, offsets, codes })
    }
    fn strings<'a>(&'a self, _: &'static str) -> Option<impl Fn(usize) -> Option<&'a str> + 'a> {
        (!self.coded).then_some(move |i: usize| self.strings[i])
    }
    fn floats(&self, _: &'static str) -> Option<impl Fn(usize) -> Option<f64> + '_> {
        Some(move |i: usize| self.floats[i])
    }
    fn ints(&self, _: &'static str) -> Option<impl Fn(usize) -> Option<i64> + '_> {
        Some(move |i: usize| self.ints[i])
    }
    fn bools(&self, _: &'static str) -> Option<impl Fn(usize) -> Option<bool> + '_> {
        Some(move |i: usize| self.bools[i])
    }
}

fn rows_of(filter: &Filter, table: &Table) -> Vec<usize> {
    let test = filter.row_test(table).expect("the table holds the column");
    (0..table.rows()).filter(|&i| test(i)).collect()
}

/// The rows whose string passes, checked the same through plain and coded columns.
fn string_rows(filter: &Filter, values: &[Option<&'static str>]) -> Vec<usize> {
    let plain = Table { strings: values.to_vec(), ..Table::new(0) };
    let rows = rows_of(filter, &plain);
    assert_eq!(rows_of(filter, &plain.coded()), rows, "coded vs plain for {filter:?}");
    rows
}

const STRINGS: &[Option<&str>] = &[
    Some("run-7"),
    Some("run_7"),
    Some("run%7"),
    Some("o'k"),
    Some(""),
    Some("a*b"),
    Some("RUN-7"),
    Some("École"),
    Some("back\\slash"),
    None,
];

#[test]
fn wildcard_sql_and_rows() {
    let f = |p: &str| Filter::Wildcard(Wildcard { column: "data_id", pattern: p.into() });
    assert_eq!(f("o'k").to_sql(), "`data_id` = 'o''k'");
    assert_eq!(f("run_*%").to_sql(), "`data_id` LIKE 'run\\_%\\%' ESCAPE '\\'");
    for (pattern, want) in [
        ("run-7", vec![0]),
        // `_` and `%` are literal characters, not LIKE's wildcards.
        ("run_*", vec![1]),
        ("run%*", vec![2]),
        ("run*", vec![0, 1, 2]),
        ("*7", vec![0, 1, 2, 6]),
        ("*", vec![0, 1, 2, 3, 4, 5, 6, 7, 8]),
        // An empty pattern asks for the empty string; a null is never matched.
        ("", vec![4]),
        ("a*b", vec![5]),
        ("*'*", vec![3]),
        ("é*", vec![]),
        ("*\\*", vec![8]),
        ("%", vec![]),
    ] {
        assert_eq!(string_rows(&f(pattern), STRINGS), want, "{pattern:?}");
    }
}

/// The fast wildcard matcher against its definition, over every short pattern and value.
#[test]
fn wildcard_match_equals_its_definition() {
    fn reference(p: &[char], v: &[char]) -> bool {
        match (p.first(), v.first()) {
            (None, _) => v.is_empty(),
            (Some('*'), _) => reference(&p[1..], v) || (!v.is_empty() && reference(p, &v[1..])),
            (Some(c), Some(d)) => c == d && reference(&p[1..], &v[1..]),
            (Some(_), None) => false,
        }
    }
    fn all(alphabet: &[char], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..max {
            layer = layer.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            out.extend(layer.iter().cloned());
        }
        out
    }
    for p in all(&['a', 'é', '*'], 5) {
        for v in all(&['a', 'é', 'b'], 4) {
            let (pc, vc): (Vec<char>, Vec<char>) = (p.chars().collect(), v.chars().collect());
            assert_eq!(wildcard_match(&p, &v), reference(&pc, &vc), "{p:?} on {v:?}");
        }
    }
}

#[test]
fn contains_sql_and_rows() {
    let f = |n: &str| Filter::Contains(Contains::new("question", n));
    assert_eq!(f("50%_A").to_sql(), "lower(`question`) LIKE '%50\\%\\_a%' ESCAPE '\\'");
    assert_eq!(f("O'K").to_sql(), "lower(`question`) LIKE '%o''k%' ESCAPE '\\'");
    for (needle, want) in [
        ("RUN-", vec![0, 6]),
        ("_", vec![1]),
        ("%", vec![2]),
        ("O'K", vec![3]),
        ("*", vec![5]),
        ("éCOLE", vec![7]),
        ("\\", vec![8]),
        ("7", vec![0, 1, 2, 6]),
    ] {
        assert_eq!(string_rows(&f(needle), STRINGS), want, "{needle:?}");
    }
    assert!(contains_folded("Hello World", "o w"));
    assert!(!contains_folded("Hello", "é"));
    assert!(contains_folded("ÉCOLE", "éc"));
    assert!(contains_folded("abc", ""));
    assert!(!contains_folded("ab", "abc"));
}

#[test]
fn any_of_sql_and_rows() {
    let f = |vs: &[&str]| {
        Filter::AnyOf(AnyOf { column: "termination_reason", values: vs.iter().map(|s| s.to_string()).collect() })
    };
    assert_eq!(f(&["o'k", "x"]).to_sql(), "`termination_reason` IN ('o''k', 'x')");
    assert_eq!(string_rows(&f(&["o'k", "run-7", "absent"]), STRINGS), vec![0, 3]);
    assert_eq!(string_rows(&f(&["run*"]), STRINGS), Vec::<usize>::new(), "no wildcards");
    assert_eq!(string_rows(&f(&[""]), STRINGS), vec![4], "a null is not the empty string");
}

#[test]
fn float_sql_and_rows_bounds_inclusive() {
    let table = Table { floats: vec![None, Some(-0.5), Some(0.0), Some(0.5), Some(1.0)], ..Table::new(0) };
    let f = |cmp, value| Filter::Float(FloatCmp { column: "reward", cmp, value });
    assert_eq!(f(Cmp::Ge, 0.5).to_sql(), "`reward` >= 0.5");
    assert_eq!(f(Cmp::Eq, 1.0).to_sql(), "`reward` = 1.0");
    assert_eq!(f(Cmp::Le, -1e-7).to_sql(), "`reward` <= -1e-7");
    assert_eq!(rows_of(&f(Cmp::Ge, 0.5), &table), vec![3, 4]);
    assert_eq!(rows_of(&f(Cmp::Le, 0.5), &table), vec![1, 2, 3]);
    assert_eq!(rows_of(&f(Cmp::Eq, 0.0), &table), vec![2]);
    assert_eq!(rows_of(&f(Cmp::Lt, 0.0), &table), vec![1]);
    // "-0" parses to 0.0, as values are stored.
    let parsed = Filter::parse("reward_exact", "-0").unwrap();
    assert_eq!(parsed.to_sql(), "`reward` = 0.0");
    assert_eq!(rows_of(&parsed, &table), vec![2]);
}

#[test]
fn int_sql_and_rows_at_the_extremes() {
    let table = Table { ints: vec![None, Some(i64::MIN), Some(-1), Some(0), Some(3), Some(i64::MAX)], ..Table::new(0) };
    let f = |cmp, value| Filter::Int(IntCmp { column: "epoch_id", cmp, value });
    assert_eq!(f(Cmp::Le, 3).to_sql(), "`epoch_id` <= 3");
    assert_eq!(f(Cmp::Eq, i64::MIN).to_sql(), "`epoch_id` < -9223372036854775807");
    assert_eq!(rows_of(&f(Cmp::Eq, i64::MIN), &table), vec![1]);
    assert_eq!(rows_of(&f(Cmp::Ge, i64::MIN), &table), vec![1, 2, 3, 4, 5]);
    assert_eq!(rows_of(&f(Cmp::Lt, i64::MIN), &table), Vec::<usize>::new());
    assert_eq!(rows_of(&f(Cmp::Ge, 0), &table), vec![3, 4, 5]);
    assert_eq!(rows_of(&f(Cmp::Le, 0), &table), vec![1, 2, 3]);
    assert_eq!(rows_of(&f(Cmp::Eq, i64::MAX), &table), vec![5]);
    // The time range: created_after is inclusive, created_before exclusive.
    let after = Filter::parse("created_after", "0").unwrap();
    let before = Filter::parse("created_before", "0").unwrap();
    assert_eq!((after.to_sql(), before.to_sql()), ("`created_at` >= 0".into(), "`created_at` < 0".into()));
    assert_eq!((rows_of(&after, &table), rows_of(&before, &table)), (vec![3, 4, 5], vec![1, 2]));
}

#[test]
fn bool_sql_and_rows() {
    let table = Table { bools: vec![None, Some(true), Some(false)], ..Table::new(0) };
    let f = |value| Filter::Bool(BoolIs { column: "is_success", value });
    assert_eq!(f(false).to_sql(), "`is_success` = false");
    assert_eq!(rows_of(&f(true), &table), vec![1]);
    assert_eq!(rows_of(&f(false), &table), vec![2], "a null is not false");
}

fn list_table(lists: &[&[&str]]) -> Table {
    let lists = lists.iter().map(|l| l.iter().map(|s| s.to_string()).collect()).collect();
    Table { lists, ..Table::new(0) }.coded()
}

#[test]
fn tags_sql_and_rows() {
    let table = list_table(&[&[], &["a"], &["b", "it's"], &["a,b"], &["A"]]);
    let f = |tags: &[&str]| Filter::TagsAny(TagsAny { tags: tags.iter().map(|s| s.to_string()).collect() });
    assert_eq!(f(&["a", "it's"]).to_sql(), "array_has_any(`tags`, make_array('a', 'it''s'))");
    for (tags, want) in [(vec!["a"], vec![1]), (vec!["it's", "zz"], vec![2]), (vec!["a", "b"], vec![1, 2])] {
        let filter = f(&tags);
        assert_eq!(rows_of(&filter, &table), want, "{tags:?}");
        let Filter::TagsAny(kind) = &filter else { unreachable!() };
        let by_matches: Vec<usize> =
            (0..table.rows()).filter(|&i| kind.matches(table.lists[i].iter().map(String::as_str))).collect();
        assert_eq!(by_matches, want);
    }
}

#[test]
fn metadata_sql_and_rows() {
    let docs = [
        serde_json::json!({"k": "1"}),
        serde_json::json!({"k": 1}),
        serde_json::json!({"k": 1.5, "a": {"b": "x'y"}}),
        serde_json::json!({"k": true}),
        serde_json::json!({"k": null}),
        serde_json::json!({"k": [1]}),
        serde_json::json!({}),
    ];
    let entries: Vec<Vec<String>> = docs.iter().map(metadata_entries).collect();
    let table = Table { lists: entries.clone(), ..Table::new(0) }.coded();
    let f = |k: &str, v: &str| Filter::Metadata(Metadata { key: k.into(), value: v.into() });
    assert_eq!(f("a.b", "x'y").to_sql(), r#"array_has_any(`metadata_kv`, make_array('"a.b":"x''y"'))"#);
    for ((k, v), want) in [
        (("k", "1"), vec![0, 1]),
        (("k", "1.0"), vec![1]),
        (("k", "1.50"), vec![2]),
        (("k", "true"), vec![3]),
        (("k", "True"), vec![]),
        (("k", "null"), vec![4]),
        (("a.b", "x'y"), vec![2]),
        (("a", "x'y"), vec![]),
    ] {
        let filter = f(k, v);
        assert_eq!(rows_of(&filter, &table), want, "{k}={v}");
        let Filter::Metadata(kind) = &filter else { unreachable!() };
        let by_matches: Vec<usize> =
            (0..table.rows()).filter(|&i| kind.matches(entries[i].iter().map(String::as_str))).collect();
        assert_eq!(by_matches, want, "{k}={v}");
    }
}

/// Filters combine with AND; a filter the columns cannot evaluate makes the set refuse.
#[test]
fn sets_select_the_rows_every_filter_passes() {
    let mut table = Table::new(0);
    table.ints = vec![Some(1), Some(2), Some(3), None];
    table.bools = vec![Some(true), Some(true), Some(false), Some(true)];
    let set = FilterSet::parse([("epoch_id_min", "2"), ("is_success", "true")]).unwrap();
    assert_eq!(set.select(&table), Some(vec![1]));
    assert_eq!(FilterSet::default().select(&table), Some(vec![0, 1, 2, 3]));
    let strings = FilterSet::parse([("data_id", "x"), ("epoch_id_min", "2")]).unwrap();
    let coded =
        Table { strings: vec![Some("x"), None, Some("x"), Some("y")], ints: table.ints.clone(), ..Table::new(0) };
    assert_eq!(strings.select(&coded.coded()), Some(vec![2]), "coded strings are read");
    table.strings = vec![None; 4];
    assert!(FilterSet::parse([("tags", "x")]).unwrap().select(&table).is_none(), "no list column: refused");
}
