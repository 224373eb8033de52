//! The query engine against a plain in-memory reference over the same records.
//!
//! Records carry adversarial strings (quotes, backslashes, `%`, `_`, `*`, `--`, NUL,
//! newlines, non-ASCII); filters are built from them. Every result (rows, order, total,
//! cursor walks) must equal what the reference computes with ordinary Rust code.

use std::cmp::Ordering;
use std::sync::OnceLock;

use proptest::prelude::*;
use trajstore::demo::Rng;
use trajstore::{ListRequest, Page, Summary, Trajectory, Trajstore};

const ALPHABET: &[&str] =
    &["a", "b", "A", "'", "''", "\"", "\\", "%", "_", "*", "--", "\0", "\n", "é", "É", "ß", "😀", " ", ";", "x"];

struct Fixture {
    rt: tokio::runtime::Runtime,
    store: Trajstore,
    /// The same store through a handle that answers from its in-memory index.
    memory: Trajstore,
    rows: Vec<Summary>,
    _dir: tempfile::TempDir,
}

fn weird(rng: &mut Rng, max: u64) -> String {
    (0..rng.range(0, max)).map(|_| *rng.pick(ALPHABET)).collect()
}

/// A value for a comma-separated list filter: no commas, no edge spaces, not empty.
fn list_value(rng: &mut Rng) -> String {
    let s = weird(rng, 4).replace(',', "").trim().to_string();
    if s.is_empty() {
        "v".to_string()
    } else {
        s
    }
}

/// `None` 15% of the time, else a value made by `make`.
fn maybe<T>(rng: &mut Rng, make: impl FnOnce(&mut Rng) -> T) -> Option<T> {
    if rng.f64() < 0.15 {
        None
    } else {
        Some(make(rng))
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = rt.block_on(Trajstore::open(dir.path().to_str().unwrap())).unwrap();
        let mut rng = Rng::new(7);
        let reasons: Vec<String> = (0..5).map(|_| list_value(&mut rng)).collect();
        let tags: Vec<String> = (0..6).map(|_| list_value(&mut rng)).collect();
        let mut records = Vec::new();
        for i in 0..240 {
            let mut obj = serde_json::Map::new();
            obj.insert("trajectory_id".into(), format!("{}{i}", weird(&mut rng, 3)).into());
            for key in ["data_id", "agent_name", "training_id", "model"] {
                if let Some(v) = maybe(&mut rng, |r| weird(r, 4)) {
                    obj.insert(key.into(), v.into());
                }
            }
            if let Some(q) = maybe(&mut rng, |r| weird(r, 6)) {
                obj.insert("task".into(), serde_json::json!({"question": q}));
            }
            if let Some(r) = maybe(&mut rng, |r| r.pick(&reasons).clone()) {
                obj.insert("termination_reason".into(), r.into());
            }
            for key in ["reward", "toolcall_reward", "res_reward", "exec_time", "cost"] {
                // Few distinct values, so that ties (and the id tie-break) are common.
                // -0.0 is stored as 0.0, so it ties with 0.0 on every path.
                if let Some(v) =
                    maybe(&mut rng, |r| if r.f64() < 0.1 { -0.0 } else { r.range(0, 8) as f64 / 4.0 - 0.5 })
                {
                    obj.insert(key.into(), v.into());
                }
            }
            for key in ["input_tokens", "output_tokens"] {
                if let Some(v) = maybe(&mut rng, |r| r.range(0, 5) as i64 * 100) {
                    obj.insert(key.into(), v.into());
                }
            }
            for key in ["epoch_id", "iteration_id", "sample_id"] {
                // The extremes too: i64::MIN has no SQL literal of its own.
                if let Some(v) = maybe(&mut rng, |r| match r.range(0, 12) {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    n => n as i64 % 5,
                }) {
                    obj.insert(key.into(), v.into());
                }
            }
            if let Some(b) = maybe(&mut rng, |r| r.f64() < 0.5) {
                obj.insert("is_success".into(), b.into());
            }
            obj.insert("is_bookmarked".into(), (rng.f64() < 0.3).into());
            obj.insert("step_count".into(), (rng.range(0, 6) as i64).into());
            obj.insert("created_at".into(), (1_700_000_000 + rng.range(0, 20) as i64 * 3600).into());
            let n_tags = rng.range(0, 2);
            obj.insert("tags".into(), (0..n_tags).map(|_| rng.pick(&tags).clone()).collect::<Vec<_>>().into());
            let mut meta = serde_json::Map::new();
            meta.insert("k".into(), weird(&mut rng, 3).into());
            meta.insert("n".into(), (rng.range(0, 3) as f64 / 2.0).into());
            meta.insert(weird(&mut rng, 2).replace('.', ""), (rng.f64() < 0.5).into());
            obj.insert("metadata".into(), meta.into());
            records.push(Trajectory::from_json(serde_json::Value::Object(obj).to_string().as_bytes()).unwrap());
        }
        let mut seen = std::collections::HashSet::new();
        records.retain(|r| seen.insert(r.trajectory_id.clone()));
        let rows: Vec<Summary> = records.iter().map(Summary::from).collect();
        rt.block_on(store.add(records)).unwrap();
        let memory = rt
            .block_on(Trajstore::builder(dir.path().to_str().unwrap()).cache(0, 0).memory_index(true).open())
            .unwrap();
        let info = rt.block_on(memory.warm_memory_index()).unwrap().expect("built");
        assert_eq!(info.rows, rows.len());
        Fixture { rt, store, memory, rows, _dir: dir }
    })
}

// ---- the reference -------------------------------------------------------------

/// `*` matches any run of characters; everything else matches itself.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // dp[j]: pattern[..i] matches value[..j]
    let mut dp = vec![false; v.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; v.len() + 1];
        if pc == '*' {
            let mut any = false;
            for j in 0..=v.len() {
                any |= dp[j];
                next[j] = any;
            }
        } else {
            for j in 1..=v.len() {
                next[j] = dp[j - 1] && v[j - 1] == pc;
            }
        }
        dp = next;
    }
    dp[v.len()]
}

fn string_field<'a>(r: &'a Summary, name: &str) -> Option<&'a str> {
    match name {
        "data_id" => r.data_id.as_deref(),
        "agent_name" => r.agent_name.as_deref(),
        "training_id" => r.training_id.as_deref(),
        "model" => r.model.as_deref(),
        "trajectory_id" => Some(&r.trajectory_id),
        "question" => r.question.as_deref(),
        "termination_reason" => r.termination_reason.as_deref(),
        _ => unreachable!(),
    }
}

fn float_field(r: &Summary, name: &str) -> Option<f64> {
    match name {
        "reward" => r.reward,
        "toolcall_reward" => r.toolcall_reward,
        "res_reward" => r.res_reward,
        "exec_time" => r.exec_time,
        "cost" => r.cost,
        _ => unreachable!(),
    }
}

fn int_field(r: &Summary, name: &str) -> Option<i64> {
    match name {
        "epoch_id" => r.epoch_id,
        "iteration_id" => r.iteration_id,
        "sample_id" => r.sample_id,
        "step_count" => Some(r.step_count),
        "input_tokens" => r.input_tokens,
        "output_tokens" => r.output_tokens,
        "created_at" => r.created_at,
        _ => unreachable!(),
    }
}

fn reference_match(r: &Summary, name: &str, value: &str) -> bool {
    let list = || value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>();
    match name {
        "data_id" | "agent_name" | "training_id" | "model" => {
            string_field(r, name).is_some_and(|v| wildcard_match(value, v))
        }
        "trajectory_id" | "question" => {
            string_field(r, name).is_some_and(|v| v.to_lowercase().contains(&value.to_lowercase()))
        }
        "termination_reason" => r.termination_reason.as_deref().is_some_and(|v| list().contains(&v)),
        "tags" => r.tags.iter().any(|t| list().contains(&t.as_str())),
        "is_bookmarked" => r.is_bookmarked == (value == "true"),
        "is_success" => r.is_success == Some(value == "true"),
        "created_after" => r.created_at.unwrap() >= value.parse::<i64>().unwrap() * 1_000_000,
        "created_before" => r.created_at.unwrap() < value.parse::<i64>().unwrap() * 1_000_000,
        n if n.starts_with("metadata.") => {
            let key = &n["metadata.".len()..];
            match r.metadata.as_ref().and_then(|m| m.get(key)) {
                Some(serde_json::Value::String(s)) => s == value,
                Some(serde_json::Value::Number(x)) => {
                    value.trim().parse::<f64>().is_ok_and(|v| v == x.as_f64().unwrap())
                }
                Some(serde_json::Value::Bool(b)) => value == b.to_string(),
                _ => false,
            }
        }
        n => {
            let (base, op) = n
                .rsplit_once('_')
                .map(|(b, op)| if ["min", "max", "exact"].contains(&op) { (b, op) } else { (n, "eq") })
                .unwrap_or((n, "eq"));
            let cmp = |x: f64, v: f64| match op {
                "min" => x >= v,
                "max" => x <= v,
                _ => x == v,
            };
            match base {
                "reward" | "toolcall_reward" | "res_reward" | "exec_time" | "cost" => {
                    float_field(r, base).is_some_and(|x| cmp(x, value.parse().unwrap()))
                }
                _ => int_field(r, base).is_some_and(|x| cmp(x as f64, value.parse::<i64>().unwrap() as f64)),
            }
        }
    }
}

fn sort_key_cmp(a: &Summary, b: &Summary, sort: &str, desc: bool) -> Ordering {
    fn nulls_last<T>(a: Option<T>, b: Option<T>, desc: bool, cmp: impl Fn(&T, &T) -> Ordering) -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let o = cmp(&x, &y);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            }
        }
    }
    let primary = match sort {
        "reward" | "toolcall_reward" | "res_reward" | "exec_time" | "cost" => {
            nulls_last(float_field(a, sort), float_field(b, sort), desc, |x, y| x.total_cmp(y))
        }
        "epoch_id" | "iteration_id" | "sample_id" | "step_count" | "input_tokens" | "output_tokens" | "created_at" => {
            nulls_last(int_field(a, sort), int_field(b, sort), desc, Ord::cmp)
        }
        "is_success" => nulls_last(a.is_success, b.is_success, desc, Ord::cmp),
        "is_bookmarked" => nulls_last(Some(a.is_bookmarked), Some(b.is_bookmarked), desc, Ord::cmp),
        s => nulls_last(string_field(a, s), string_field(b, s), desc, |x, y| x.cmp(y)),
    };
    let tie = if sort == "trajectory_id" { Ordering::Equal } else { a.trajectory_id.cmp(&b.trajectory_id) };
    primary.then(tie)
}

fn reference(filters: &[(String, String)], sort: &str, desc: bool) -> Vec<String> {
    let mut rows: Vec<&Summary> =
        fixture().rows.iter().filter(|r| filters.iter().all(|(n, v)| reference_match(r, n, v))).collect();
    rows.sort_by(|a, b| sort_key_cmp(a, b, sort, desc));
    rows.into_iter().map(|r| r.trajectory_id.clone()).collect()
}

// ---- strategies ----------------------------------------------------------------

/// A value derived from stored data (exact, or with a `*` for a cut prefix or suffix)
/// or made up from the adversarial alphabet.
fn string_value(field: &'static str) -> impl Strategy<Value = String> {
    let stored: Vec<String> = fixture().rows.iter().filter_map(|r| string_field(r, field).map(String::from)).collect();
    prop_oneof![
        prop::sample::select(stored.clone()),
        (prop::sample::select(stored.clone()), 0usize..3).prop_map(|(s, cut)| {
            let chars: Vec<char> = s.chars().collect();
            let keep = chars.len().saturating_sub(cut);
            format!("{}*", chars[..keep].iter().collect::<String>())
        }),
        (prop::sample::select(stored), 0usize..3)
            .prop_map(|(s, cut)| format!("*{}", s.chars().skip(cut).collect::<String>())),
        prop::collection::vec(prop::sample::select(ALPHABET), 0..4).prop_map(|v| v.concat()),
    ]
}

fn substring_value(field: &'static str) -> impl Strategy<Value = String> {
    let stored: Vec<String> = fixture().rows.iter().filter_map(|r| string_field(r, field).map(String::from)).collect();
    prop_oneof![
        // Not empty: an empty substring filter is refused (it would match every row).
        (prop::sample::select(stored), any::<prop::sample::Index>(), 1usize..3).prop_map(|(s, i, len)| {
            let chars: Vec<char> = s.chars().collect();
            let start = if chars.is_empty() { 0 } else { i.index(chars.len()) };
            let piece: String = chars[start..(start + len).min(chars.len())].iter().collect();
            let piece = if piece.is_empty() { "a".to_string() } else { piece };
            // Vary the case: the match is case-insensitive.
            if len % 2 == 0 {
                piece.to_uppercase()
            } else {
                piece
            }
        }),
        prop::collection::vec(prop::sample::select(ALPHABET), 1..3).prop_map(|v| v.concat()),
    ]
}

fn list_filter_value(field: &'static str) -> impl Strategy<Value = String> {
    let stored: Vec<String> = fixture()
        .rows
        .iter()
        .flat_map(|r| if field == "tags" { r.tags.clone() } else { r.termination_reason.clone().into_iter().collect() })
        .chain(["unknown-value".to_string()])
        .collect();
    prop::collection::vec(prop::sample::select(stored), 1..3).prop_map(|v| v.join(","))
}

fn metadata_filter() -> impl Strategy<Value = (String, String)> {
    let pairs: Vec<(String, String)> = fixture()
        .rows
        .iter()
        .flat_map(|r| {
            r.metadata
                .as_ref()
                .unwrap()
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string())))
                .collect::<Vec<_>>()
        })
        // `metadata.` with an empty key is rejected by the parser (tested there).
        .filter(|(k, _)| !k.is_empty())
        .collect();
    prop_oneof![
        prop::sample::select(pairs).prop_map(|(k, v)| (format!("metadata.{k}"), v)),
        Just(("metadata.n".to_string(), "0.50".to_string())),
        Just(("metadata.k".to_string(), "1".to_string())),
    ]
}

fn one_filter() -> impl Strategy<Value = (String, String)> {
    let numeric = prop_oneof![Just("reward"), Just("toolcall_reward"), Just("res_reward")]
        .prop_flat_map(|f| (Just(f), prop::sample::select(vec!["_min", "_max", "_exact"]), -2i32..8))
        // "-0" asks for 0.0, as stored.
        .prop_map(|(f, op, v)| {
            (format!("{f}{op}"), if v == -2 { "-0".to_string() } else { format!("{}", v as f64 / 4.0 - 0.5) })
        });
    let ints = (
        prop::sample::select(vec!["epoch_id", "iteration_id", "sample_id"]),
        prop::sample::select(vec!["", "_min", "_max"]),
        prop_oneof![8 => -1i64..6, 1 => Just(i64::MIN), 1 => Just(i64::MAX)],
    )
        .prop_map(|(f, op, v)| (format!("{f}{op}"), v.to_string()));
    prop_oneof![
        prop::sample::select(vec!["data_id", "agent_name", "training_id", "model"])
            .prop_flat_map(|f| (Just(f.to_string()), string_value(f))),
        prop::sample::select(vec!["trajectory_id", "question"])
            .prop_flat_map(|f| (Just(f.to_string()), substring_value(f))),
        prop::sample::select(vec!["termination_reason", "tags"])
            .prop_flat_map(|f| (Just(f.to_string()), list_filter_value(f))),
        numeric,
        ints,
        (prop::sample::select(vec!["step_count_min", "step_count_max"]), 0i64..6)
            .prop_map(|(f, v)| (f.to_string(), v.to_string())),
        (
            prop::sample::select(vec![
                "input_tokens_min",
                "input_tokens_max",
                "output_tokens_min",
                "output_tokens_max"
            ]),
            0i64..5
        )
            .prop_map(|(f, v)| (f.to_string(), (v * 100 - 50).to_string())),
        (prop::sample::select(vec!["exec_time_min", "exec_time_max", "cost_min", "cost_max"]), -2i32..8)
            .prop_map(|(f, v)| (f.to_string(), (v as f64 / 4.0 - 0.5).to_string())),
        (prop::sample::select(vec!["is_bookmarked", "is_success"]), any::<bool>())
            .prop_map(|(f, b)| (f.to_string(), b.to_string())),
        (prop::sample::select(vec!["created_after", "created_before"]), 0i64..20)
            .prop_map(|(f, h)| (f.to_string(), (1_700_000_000 + h * 3600).to_string())),
        metadata_filter(),
    ]
}

const SORTS: &[&str] = &[
    "trajectory_id",
    "data_id",
    "agent_name",
    "training_id",
    "epoch_id",
    "iteration_id",
    "sample_id",
    "question",
    "termination_reason",
    "reward",
    "toolcall_reward",
    "res_reward",
    "is_success",
    "step_count",
    "exec_time",
    "model",
    "input_tokens",
    "output_tokens",
    "cost",
    "is_bookmarked",
    "created_at",
];

/// Lists through Lance and through the in-memory index; both pages (every field of every
/// row, the total and the cursor) must be the same document.
fn list_both(req: &ListRequest) -> std::sync::Arc<Page> {
    let f = fixture();
    let from_lance = f.rt.block_on(f.store.list(req)).unwrap();
    let from_memory = f.rt.block_on(f.memory.list(req)).unwrap();
    assert_eq!(
        f.memory.memory_index().unwrap().version,
        f.rt.block_on(f.store.version()).unwrap(),
        "the index is current, so it answered"
    );
    assert_eq!(
        serde_json::to_value(&*from_memory).unwrap(),
        serde_json::to_value(&*from_lance).unwrap(),
        "in-memory index vs Lance for {req:?}"
    );
    from_lance
}

fn request(filters: &[(String, String)], extra: &[(&str, String)]) -> ListRequest {
    let mut pairs: Vec<(&str, &str)> = filters.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    ListRequest::parse(pairs).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every filter alone: rows and exact total equal the reference.
    #[test]
    fn each_filter_matches_the_reference((name, value) in one_filter()) {
        let filters = vec![(name, value)];
        let expected = reference(&filters, "trajectory_id", false);
        let req = request(&filters, &[("sort", "trajectory_id".into()), ("order", "asc".into()), ("page_size", "1000".into())]);
        let page = list_both(&req);
        let got: Vec<String> = page.data.iter().map(|r| r.trajectory_id.clone()).collect();
        prop_assert_eq!(&got, &expected, "filter {:?} -> {:?}", filters, req.where_sql());
        prop_assert_eq!(page.total, expected.len() as u64);
    }

    /// Combinations of filters, any sort and order, any page: the page is the right slice
    /// of the globally sorted reference, and the total is exact.
    #[test]
    fn combinations_sorts_and_pages_match_the_reference(
        filters in prop::collection::vec(one_filter(), 0..4),
        sort in prop::sample::select(SORTS),
        desc in any::<bool>(),
        page_size in 1u64..40,
        page in 1u64..6,
    ) {
        let expected = reference(&filters, sort, desc);
        let req = request(&filters, &[("sort", sort.into()), ("order", if desc { "desc" } else { "asc" }.into()), ("page", page.to_string()), ("page_size", page_size.to_string())]);
        let got = list_both(&req);
        let start = ((page - 1) * page_size) as usize;
        let want: Vec<String> = expected.iter().skip(start).take(page_size as usize).cloned().collect();
        let ids: Vec<String> = got.data.iter().map(|r| r.trajectory_id.clone()).collect();
        prop_assert_eq!(ids, want, "filters {:?} sort {} desc {}", filters, sort, desc);
        prop_assert_eq!(got.total, expected.len() as u64);
    }

    /// Following next_cursor from the first page visits every row once, in order.
    #[test]
    fn cursor_walks_visit_every_row_once(
        filters in prop::collection::vec(one_filter(), 0..2),
        sort in prop::sample::select(SORTS),
        desc in any::<bool>(),
        page_size in 7u64..60,
    ) {
        let expected = reference(&filters, sort, desc);
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..200 {
            let mut extra = vec![("sort", sort.to_string()), ("order", if desc { "desc" } else { "asc" }.to_string()), ("page_size", page_size.to_string())];
            if let Some(c) = &cursor {
                extra.push(("cursor", c.clone()));
            }
            let page = list_both(&request(&filters, &extra));
            walked.extend(page.data.iter().map(|r| r.trajectory_id.clone()));
            match &page.next_cursor {
                Some(c) => cursor = Some(c.clone()),
                None => break,
            }
        }
        prop_assert_eq!(walked, expected);
    }
}

#[test]
fn reference_wildcards_behave() {
    assert!(wildcard_match("a*c", "abbc"));
    assert!(wildcard_match("*", ""));
    assert!(!wildcard_match("a*c", "abcd"));
    assert!(wildcard_match("%_", "%_"));
    assert!(!wildcard_match("%", "x"));
}

/// Updates made through a handle with the in-memory index patch it at once (no re-read),
/// and its lists then equal those of a plain Lance handle, field for field.
#[test]
fn updates_patch_the_in_memory_index() {
    use trajstore::Patch;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let lance = Trajstore::builder(path).cache(0, 0).open().await.unwrap();
        let records: Vec<Trajectory> = (0..40)
            .map(|i| {
                Trajectory::from_json(
                    format!(r#"{{"trajectory_id":"t{i:02}","reward":{},"tags":["x"],"notes":"n{i}"}}"#, i % 3)
                        .as_bytes(),
                )
                .unwrap()
            })
            .collect();
        lance.add(records).await.unwrap();
        let memory = Trajstore::builder(path).cache(0, 0).memory_index(true).open().await.unwrap();
        memory.warm_memory_index().await.unwrap().expect("built");
        let patches = [
            ("t03", Patch { is_bookmarked: Some(true), ..Default::default() }),
            ("t07", Patch { tags: Some(vec!["y".into(), "x".into()]), ..Default::default() }),
            ("t03", Patch { tags: Some(vec![]), notes: Some(None), ..Default::default() }),
            (
                "t11",
                Patch { is_bookmarked: Some(true), tags: Some(vec!["z'".into()]), notes: Some(Some("new".into())) },
            ),
            ("t03", Patch { is_bookmarked: Some(false), ..Default::default() }),
        ];
        for (n, (id, patch)) in patches.iter().enumerate() {
            let returned = memory.update(id, patch).await.unwrap();
            assert_eq!(
                memory.memory_index().unwrap().version,
                lance.version().await.unwrap(),
                "patched in place after update {n}"
            );
            let stored =
                lance.summaries(&trajstore::FilterSet::parse([("trajectory_id", *id)]).unwrap()).await.unwrap();
            assert_eq!(vec![returned], stored, "the row update returns is the stored row");
            for pairs in [
                vec![("is_bookmarked", "true")],
                vec![("tags", "y,z'")],
                vec![("tags", "x"), ("sort", "reward")],
                vec![("sort", "updated_at"), ("order", "desc"), ("page_size", "100")],
            ] {
                let req = ListRequest::parse(pairs.clone()).unwrap();
                let (a, b) = (memory.list(&req).await.unwrap(), lance.list(&req).await.unwrap());
                assert_eq!(
                    serde_json::to_value(&*a).unwrap(),
                    serde_json::to_value(&*b).unwrap(),
                    "after update {n}, {pairs:?}"
                );
            }
        }
    });
}

/// `get` through the in-memory index (only the payload is read) returns the same record
/// as through Lance, and the same not-found for an absent id.
#[test]
fn get_through_the_in_memory_index_equals_lance() {
    let f = fixture();
    assert_eq!(f.memory.memory_index().unwrap().version, f.rt.block_on(f.store.version()).unwrap());
    for row in f.rows.iter().step_by(17) {
        let a = f.rt.block_on(f.memory.get(&row.trajectory_id)).unwrap();
        let b = f.rt.block_on(f.store.get(&row.trajectory_id)).unwrap();
        assert_eq!(a.to_json(), b.to_json());
    }
    for id in ["no such id", "", "'"] {
        assert!(matches!(f.rt.block_on(f.memory.get(id)), Err(trajstore::Error::NotFound { .. })), "{id:?}");
    }
}

/// Adds through a handle with the in-memory index extend it from their own rows, and
/// commits that change no row (the compaction and index builds of the automatic
/// `optimize`) carry it over: no full re-read however many adds, and its lists equal
/// those of a plain Lance handle after each. Another handle's adds, updates and deletes,
/// and deletes through this one, are followed by reading only the rows they changed.
#[test]
fn adds_extend_the_in_memory_index() {
    use trajstore::Patch;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        let record = |i: usize| {
            Trajectory::from_json(
                format!(
                    r#"{{"trajectory_id":"t{i:03}","reward":{},"tags":["t{}"],"question":"q{}","model":"m{}"}}"#,
                    i % 4,
                    i % 3,
                    i % 5,
                    i % 2
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let lance = Trajstore::builder(path).cache(0, 0).open().await.unwrap();
        lance.add((0..20).map(record).collect()).await.unwrap();
        let memory = Trajstore::builder(path).cache(0, 0).memory_index(true).optimize_every(3).open().await.unwrap();
        memory.warm_memory_index().await.unwrap().expect("built");
        let same_lists = |when: String| {
            let (memory, lance) = (&memory, &lance);
            async move {
                for pairs in [
                    vec![("sort", "trajectory_id"), ("page_size", "200")],
                    vec![("sort", "reward"), ("order", "desc"), ("page_size", "15")],
                    vec![("tags", "t1"), ("sort", "question")],
                    vec![("model", "m1"), ("question", "q2")],
                ] {
                    let req = ListRequest::parse(pairs.clone()).unwrap();
                    let (a, b) = (memory.list(&req).await.unwrap(), lance.list(&req).await.unwrap());
                    assert_eq!(
                        serde_json::to_value(&*a).unwrap(),
                        serde_json::to_value(&*b).unwrap(),
                        "{when}, {pairs:?}"
                    );
                }
            }
        };
        let mut next = 20;
        for n in 0..9 {
            // Seven new records, one already stored and one repeated in the batch.
            let mut batch: Vec<Trajectory> = (next..next + 7).map(record).collect();
            batch.push(record(n));
            batch.push(record(next));
            next += 7;
            let out = memory.add(batch).await.unwrap();
            assert_eq!(out.inserted, 7, "add {n}");
            let info = memory.memory_index().unwrap();
            assert!(info.version <= lance.version().await.unwrap());
            assert_eq!(info.rows, next, "the add returned with its rows in memory (add {n})");
            same_lists(format!("after add {n}")).await;
            assert_eq!(memory.count(&Default::default()).await.unwrap(), next as u64);
        }
        let info = memory.memory_index().unwrap();
        assert_eq!(info.version, lance.version().await.unwrap(), "optimize's commits are carried over");
        assert_eq!(info.builds, 1, "no full read after the first: {info:?}");
        assert!(info.appends >= 9, "{info:?}");

        // Another handle's adds (as another process's): only the rows they added are read.
        for n in 0..3 {
            lance.add((next..next + 4).map(record).collect()).await.unwrap();
            next += 4;
            same_lists(format!("after another handle's add {n}")).await;
        }
        let info = memory.warm_memory_index().await.unwrap().unwrap();
        assert_eq!(info.version, lance.version().await.unwrap());
        assert_eq!(info.rows, next);
        assert_eq!(info.builds, 1, "another handle's adds are followed without a full read: {info:?}");
        assert!(info.followed_elsewhere >= 1, "{info:?}");
        same_lists("after following another handle's adds".into()).await;

        // Another handle's updates and deletes, a delete through this one, and an add
        // after them: each followed by reading only the rows the commit changed.
        let before = memory.warm_memory_index().await.unwrap().unwrap();
        let tagged = Patch { tags: Some(vec!["relabelled".into()]), is_bookmarked: Some(true), ..Default::default() };
        lance.update("t003", &tagged).await.unwrap();
        same_lists("after another handle's update".into()).await;
        lance.delete("t007").await.unwrap();
        same_lists("after another handle's delete".into()).await;
        memory.delete("t005").await.unwrap();
        lance.update("t009", &Patch { notes: Some(Some("seen".into())), ..Default::default() }).await.unwrap();
        lance.add((next..next + 3).map(record).collect()).await.unwrap();
        lance.delete(&format!("t{:03}", next + 1)).await.unwrap();
        same_lists("after a delete here, and another handle's update, add and delete".into()).await;
        let info = memory.warm_memory_index().await.unwrap().unwrap();
        assert_eq!(info.version, lance.version().await.unwrap());
        assert_eq!(info.rows, next + 3 - 3);
        assert_eq!(info.builds, 1, "updates and deletes are followed without a full read: {info:?}");
        assert!(info.followed_elsewhere > before.followed_elsewhere, "{info:?}");
        let req = ListRequest::parse(vec![("tags", "relabelled")]).unwrap();
        let page = memory.list(&req).await.unwrap();
        assert_eq!(page.total, 1, "the other handle's update is in memory");
        assert_eq!(page.data[0].trajectory_id, "t003");
        same_lists("after catching up".into()).await;
    });
}
