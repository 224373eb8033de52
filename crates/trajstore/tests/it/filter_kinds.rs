//! Every filter kind on hand-picked edge cases (quotes, `%`, `_`, `*`, backslashes,
//! nulls, inclusive and exclusive bounds, the integer extremes, metadata types): Lance's
//! SQL and the in-memory index select exactly the expected rows. `query_reference.rs`
//! covers random combinations; this pins the cases one by one.

use std::sync::OnceLock;

use trajstore::{ListRequest, Trajectory, Trajstore};

struct Fixture {
    rt: tokio::runtime::Runtime,
    lance: Trajstore,
    memory: Trajstore,
    _dir: tempfile::TempDir,
}

const RECORDS: &[&str] = &[
    r#"{"trajectory_id": "r0", "data_id": "run-7", "task": {"question": "50% off_sale"}, "termination_reason": "it's",
        "reward": 0.5, "epoch_id": -9223372036854775808, "is_success": true, "tags": ["golden", "it's"],
        "metadata": {"model": "q'1", "t": 1}, "created_at": 1700000000}"#,
    r#"{"trajectory_id": "r1", "data_id": "run_7", "task": {"question": "It's FINE"}, "termination_reason": "success",
        "reward": 0.0, "epoch_id": 0, "is_success": false, "tags": [],
        "metadata": {"t": "1"}, "created_at": 1700003600}"#,
    r#"{"trajectory_id": "r2", "data_id": "run%7", "task": {"question": "École"}, "reward": 1.0,
        "epoch_id": 9223372036854775807, "tags": ["x"], "metadata": {"t": true, "n": {"a": null}},
        "created_at": 1700007200}"#,
    r#"{"trajectory_id": "r3", "data_id": "o'k", "tags": ["golden"], "metadata": {"t": 1.5},
        "created_at": 1700010800}"#,
    r#"{"trajectory_id": "r4", "data_id": "", "task": {"question": "back\\slash"}, "reward": -0.0, "epoch_id": -1,
        "created_at": 1700014400}"#,
    r#"{"trajectory_id": "r5", "task": {"question": "a*b"}, "created_at": 1700018000}"#,
];

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        let records = RECORDS.iter().map(|r| Trajectory::from_json(r.as_bytes()).unwrap()).collect();
        let lance = rt.block_on(Trajstore::builder(&path).cache(0, 0).open()).unwrap();
        rt.block_on(lance.add(records)).unwrap();
        let memory = rt.block_on(Trajstore::builder(&path).cache(0, 0).memory_index(true).open()).unwrap();
        rt.block_on(memory.warm_memory_index()).unwrap().expect("built");
        Fixture { rt, lance, memory, _dir: dir }
    })
}

/// Each (name, value, ids): both paths return exactly `ids`, in id order.
fn check(cases: &[(&str, &str, &[&str])]) {
    let f = fixture();
    for (name, value, want) in cases {
        let req =
            ListRequest::parse([(*name, *value), ("sort", "trajectory_id"), ("order", "asc"), ("page_size", "100")])
                .unwrap();
        let ids = |page: &trajstore::Page| page.data.iter().map(|r| r.trajectory_id.clone()).collect::<Vec<_>>();
        let lance = f.rt.block_on(f.lance.list(&req)).unwrap();
        let memory = f.rt.block_on(f.memory.list(&req)).unwrap();
        assert_eq!(f.memory.memory_index().unwrap().version, f.rt.block_on(f.lance.version()).unwrap());
        assert_eq!(ids(&lance), *want, "Lance: {name}={value:?} as {:?}", req.where_sql());
        assert_eq!(ids(&memory), *want, "in memory: {name}={value:?}");
        assert_eq!((lance.total, memory.total), (want.len() as u64, want.len() as u64), "{name}={value:?}");
    }
}

#[test]
fn wildcard() {
    check(&[
        ("data_id", "run-7", &["r0"]),
        ("data_id", "run_*", &["r1"]),
        ("data_id", "run%*", &["r2"]),
        ("data_id", "run*", &["r0", "r1", "r2"]),
        ("data_id", "*7", &["r0", "r1", "r2"]),
        ("data_id", "o'k", &["r3"]),
        ("data_id", "O'K", &[]),
        ("data_id", "*", &["r0", "r1", "r2", "r3", "r4"]),
        ("data_id", "", &["r4"]),
        ("data_id", "%", &[]),
    ]);
}

#[test]
fn contains() {
    check(&[
        ("question", "50%", &["r0"]),
        ("question", "_", &["r0"]),
        ("question", "IT'S", &["r1"]),
        ("question", "éCOLE", &["r2"]),
        ("question", "\\", &["r4"]),
        ("question", "*", &["r5"]),
        ("question", "%%", &[]),
        ("trajectory_id", "R", &["r0", "r1", "r2", "r3", "r4", "r5"]),
    ]);
}

#[test]
fn any_of() {
    check(&[
        ("termination_reason", "it's,success", &["r0", "r1"]),
        ("termination_reason", " it's ", &["r0"]),
        ("termination_reason", "absent", &[]),
    ]);
}

#[test]
fn float_range() {
    check(&[
        ("reward_min", "0.5", &["r0", "r2"]),
        ("reward_max", "0.5", &["r0", "r1", "r4"]),
        ("reward_exact", "0", &["r1", "r4"]),
        ("reward_exact", "-0", &["r1", "r4"]),
        ("reward_max", "-0.1", &[]),
    ]);
}

#[test]
fn int_range() {
    check(&[
        ("epoch_id", "-9223372036854775808", &["r0"]),
        ("epoch_id_min", "-9223372036854775808", &["r0", "r1", "r2", "r4"]),
        ("epoch_id_max", "-9223372036854775808", &["r0"]),
        ("epoch_id_max", "0", &["r0", "r1", "r4"]),
        ("epoch_id_min", "0", &["r1", "r2"]),
        ("epoch_id", "9223372036854775807", &["r2"]),
    ]);
}

#[test]
fn bool() {
    check(&[
        ("is_success", "true", &["r0"]),
        ("is_success", "no", &["r1"]),
        ("is_bookmarked", "false", &["r0", "r1", "r2", "r3", "r4", "r5"]),
    ]);
}

#[test]
fn time_range() {
    check(&[
        ("created_after", "1700003600", &["r1", "r2", "r3", "r4", "r5"]),
        ("created_before", "1700003600", &["r0"]),
        ("created_after", "2023-11-14T23:13:20Z", &["r1", "r2", "r3", "r4", "r5"]),
    ]);
}

#[test]
fn tags() {
    check(&[("tags", "golden", &["r0", "r3"]), ("tags", "it's", &["r0"]), ("tags", "x, absent", &["r2"])]);
}

#[test]
fn metadata() {
    check(&[
        ("metadata.t", "1", &["r0", "r1"]),
        ("metadata.t", "1.0", &["r0"]),
        ("metadata.t", "1.50", &["r3"]),
        ("metadata.t", "true", &["r2"]),
        ("metadata.n.a", "null", &["r2"]),
        ("metadata.model", "q'1", &["r0"]),
        ("metadata.n", "null", &[]),
    ]);
}
