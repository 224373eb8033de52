//! The summary columns, declared once.
//!
//! [`COLUMNS`] is the one list of the columns a trajectory's summary row has: its name
//! (the native JSON field and the stored column alike), its type, whether it may be null,
//! how it is filtered, whether it sorts, which statistics aggregate it, whether the UI's
//! list shows it, and the UI's label. The same macro declares [`Summary`], so a column's
//! row in the table and its field cannot drift apart. Everything else is derived from the
//! table: the Lance schema and the Arrow conversions (trajstore-store), `SUMMARY_COLUMNS`,
//! the sort list and the filter names (trajstore-query), the statistics' aggregates
//! (trajstore-stats), the Parquet export and the in-memory index (trajstore), and
//! `GET /api/schema`, from which the UI reads its columns.
//!
//! Columns the store keeps for itself (`metadata_kv`, `write_id`, `embed_text`,
//! `embedding`) are not summary columns and are not listed here.
//!
//! Adding a column: see `docs/adding-a-column.md`.

use serde::Serialize;

use crate::summary::ser_time;
use crate::Trajectory;

/// The type of a column's values; the store maps each to an Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// UTF-8 text.
    Str,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    Bool,
    /// A list of texts (`tags`).
    StrList,
    /// A JSON object kept as text (`metadata`).
    Json,
    /// Microseconds since the Unix epoch (written as RFC 3339 in documents).
    Time,
}

/// How a column is filtered, which decides its filter parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnFilter {
    /// Not filterable.
    Off,
    /// `NAME=pattern`: exact text, `*` matches any run of characters.
    Wildcard,
    /// `NAME=text`: case-insensitive substring.
    Substring,
    /// `NAME=a,b`: equal to any of the comma-separated values.
    AnyOf,
    /// `NAME_min=`, `NAME_max=`, and an exact form as [`Exact`] says.
    Range(Exact),
    /// `NAME=true|false`.
    Bool,
    /// `NAME=a,b`: holds any of the comma-separated values (a list column).
    ListAny,
    /// `STEM_after=`, `STEM_before=` where the column is `STEM_at`.
    Time,
}

/// The exact-value filter of a [`ColumnFilter::Range`] column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exact {
    /// Only `_min`/`_max`.
    No,
    /// `NAME=value` (ids: `epoch_id=3`).
    Bare,
    /// `NAME_exact=value` (floats: `reward_exact=1`).
    Suffix,
}

/// Which statistics aggregate a numeric column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    Off,
    /// `NAME_mean`, `_median`, `_p90`, `_min`, `_max`, `_nulls`.
    Summary,
    /// [`Statistic::Summary`] and `NAME_sum`.
    SummaryAndSum,
}

/// One value of a column, borrowed from a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Str(Option<&'a str>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    List(&'a [String]),
    /// A parsed JSON value ([`Summary::metadata`]).
    Json(Option<&'a serde_json::Value>),
}

/// One value of a column, owned, as read from storage. `Json` columns arrive as `Str`.
#[derive(Debug, Clone, PartialEq)]
pub enum CellValue {
    Str(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    List(Vec<String>),
}

impl Cell<'_> {
    pub fn to_value(self) -> CellValue {
        match self {
            Cell::Str(v) => CellValue::Str(v.map(str::to_string)),
            Cell::Int(v) => CellValue::Int(v),
            Cell::Float(v) => CellValue::Float(v),
            Cell::Bool(v) => CellValue::Bool(v),
            Cell::List(v) => CellValue::List(v.to_vec()),
            Cell::Json(v) => CellValue::Str(v.map(|v| v.to_string())),
        }
    }
}

/// A field that holds one column's value.
pub trait CellField {
    fn cell(&self) -> Cell<'_>;
    /// Stores `v`; an error says why it does not fit (a value of another type, bad JSON).
    fn set_cell(&mut self, v: CellValue) -> Result<(), String>;
}

fn mismatch(v: &CellValue) -> String {
    format!("a value of an unexpected type: {v:?}")
}

macro_rules! cell_field {
    ($ty:ty, $variant:ident, |$s:ident| $get:expr, |$v:ident| $set:expr) => {
        impl CellField for $ty {
            fn cell(&self) -> Cell<'_> {
                let $s = self;
                Cell::$variant($get)
            }
            fn set_cell(&mut self, v: CellValue) -> Result<(), String> {
                match v {
                    CellValue::$variant($v) => {
                        *self = $set;
                        Ok(())
                    }
                    other => Err(mismatch(&other)),
                }
            }
        }
    };
}

cell_field!(String, Str, |s| Some(s.as_str()), |v| v.unwrap_or_default());
cell_field!(Option<String>, Str, |s| s.as_deref(), |v| v);
cell_field!(i64, Int, |s| Some(*s), |v| v.unwrap_or_default());
cell_field!(Option<i64>, Int, |s| *s, |v| v);
cell_field!(Option<f64>, Float, |s| *s, |v| v);
cell_field!(bool, Bool, |s| Some(*s), |v| v.unwrap_or_default());
cell_field!(Option<bool>, Bool, |s| *s, |v| v);
cell_field!(Vec<String>, List, |s| s.as_slice(), |v| v);

impl CellField for Option<serde_json::Value> {
    fn cell(&self) -> Cell<'_> {
        Cell::Json(self.as_ref())
    }
    fn set_cell(&mut self, v: CellValue) -> Result<(), String> {
        match v {
            CellValue::Str(None) => *self = None,
            CellValue::Str(Some(text)) => *self = Some(serde_json::from_str(&text).map_err(|e| e.to_string())?),
            other => return Err(mismatch(&other)),
        }
        Ok(())
    }
}

/// One summary column: its description and how to read and write its value in a
/// [`Trajectory`] and in a [`Summary`].
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    pub filter: ColumnFilter,
    pub sortable: bool,
    pub statistic: Statistic,
    /// Shown in the UI's list of trajectories.
    pub in_list: bool,
    /// The UI's label.
    pub label: &'static str,
    pub get: for<'a> fn(&'a Trajectory) -> Cell<'a>,
    pub set: fn(&mut Trajectory, CellValue) -> Result<(), String>,
    pub summary_get: for<'a> fn(&'a Summary) -> Cell<'a>,
    pub summary_set: fn(&mut Summary, CellValue) -> Result<(), String>,
}

impl Column {
    /// The column named `name`.
    pub fn named(name: &str) -> Option<&'static Column> {
        COLUMNS.iter().find(|c| c.name == name)
    }
}

/// Declares [`Summary`] and [`COLUMNS`] from one table. Each row:
/// `field: RustType = trajectory_field, ColumnType, nullable, filter, sortable, statistic, in_list, "label"`.
macro_rules! summary_columns {
    ($(
        $(#[$attr:meta])*
        $name:ident: $rust:ty = $traj:ident,
        $ty:ident, $nullable:expr, $filter:expr, $sortable:expr, $stat:ident, $list:expr, $label:expr;
    )*) => {
        /// The summary row: every column of [`COLUMNS`], in its order. Lists, queries and
        /// exports of "rows" return this shape.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
        pub struct Summary {
            $( $(#[$attr])* pub $name: $rust, )*
        }

        /// Every summary column, in output order.
        pub const COLUMNS: &[Column] = &[$(
            Column {
                name: stringify!($name),
                ty: ColumnType::$ty,
                nullable: $nullable,
                filter: $filter,
                sortable: $sortable,
                statistic: Statistic::$stat,
                in_list: $list,
                label: $label,
                get: |t| CellField::cell(&t.$traj),
                set: |t, v| CellField::set_cell(&mut t.$traj, v),
                summary_get: |s| CellField::cell(&s.$name),
                summary_set: |s, v| CellField::set_cell(&mut s.$name, v),
            },
        )*];
    };
}

use ColumnFilter as F;
const NULL: bool = true;
const REQUIRED: bool = false;
const SORT: bool = true;
const NO_SORT: bool = false;
const LIST: bool = true;
const HIDDEN: bool = false;

#[rustfmt::skip]
summary_columns! {
    trajectory_id: String = trajectory_id,              Str,     REQUIRED, F::Substring,              SORT,    Off,     LIST,   "id";
    data_id: Option<String> = data_id,                  Str,     NULL,     F::Wildcard,               SORT,    Off,     LIST,   "data";
    agent_name: Option<String> = agent_name,            Str,     NULL,     F::Wildcard,               SORT,    Off,     LIST,   "agent";
    model: Option<String> = model,                      Str,     NULL,     F::Wildcard,               SORT,    Off,     LIST,   "model";
    training_id: Option<String> = training_id,          Str,     NULL,     F::Wildcard,               SORT,    Off,     LIST,   "training";
    epoch_id: Option<i64> = epoch_id,                   Int,     NULL,     F::Range(Exact::Bare),     SORT,    Off,     LIST,   "epoch";
    iteration_id: Option<i64> = iteration_id,           Int,     NULL,     F::Range(Exact::Bare),     SORT,    Off,     LIST,   "iter";
    sample_id: Option<i64> = sample_id,                 Int,     NULL,     F::Range(Exact::Bare),     SORT,    Off,     HIDDEN, "sample";
    question: Option<String> = question,                Str,     NULL,     F::Substring,              SORT,    Off,     LIST,   "question";
    termination_reason: Option<String> = termination_reason, Str, NULL,    F::AnyOf,                  SORT,    Off,     LIST,   "termination";
    failure_mode: Option<String> = failure_mode,        Str,     NULL,     F::AnyOf,                  SORT,    Off,     HIDDEN, "failure mode";
    reward: Option<f64> = reward,                       Float,   NULL,     F::Range(Exact::Suffix),   SORT,    Summary, LIST,   "reward";
    toolcall_reward: Option<f64> = toolcall_reward,     Float,   NULL,     F::Range(Exact::Suffix),   SORT,    Summary, HIDDEN, "toolcall reward";
    res_reward: Option<f64> = res_reward,               Float,   NULL,     F::Range(Exact::Suffix),   SORT,    Summary, HIDDEN, "result reward";
    is_success: Option<bool> = is_success,              Bool,    NULL,     F::Bool,                   SORT,    Off,     LIST,   "success";
    step_count: i64 = step_count,                       Int,     REQUIRED, F::Range(Exact::No),       SORT,    Summary, LIST,   "steps";
    exec_time: Option<f64> = exec_time,                 Float,   NULL,     F::Range(Exact::No),       SORT,    Summary, HIDDEN, "exec time";
    input_tokens: Option<i64> = input_tokens,           Int,     NULL,     F::Range(Exact::No),       SORT,    Summary, LIST,   "in tokens";
    output_tokens: Option<i64> = output_tokens,         Int,     NULL,     F::Range(Exact::No),       SORT,    Summary, LIST,   "out tokens";
    cost: Option<f64> = cost,                           Float,   NULL,     F::Range(Exact::No),       SORT,    SummaryAndSum, LIST, "cost";
    is_bookmarked: bool = is_bookmarked,                Bool,    REQUIRED, F::Bool,                   SORT,    Off,     LIST,   "bookmarked";
    tags: Vec<String> = tags,                           StrList, REQUIRED, F::ListAny,                NO_SORT, Off,     LIST,   "tags";
    notes: Option<String> = notes,                      Str,     NULL,     F::Off,                    NO_SORT, Off,     HIDDEN, "notes";
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value> = metadata_json, Json,   NULL,     F::Off,                    NO_SORT, Off,     HIDDEN, "metadata";
    source: Option<String> = source,                    Str,     NULL,     F::Off,                    SORT,    Off,     HIDDEN, "source";
    /// Microseconds since the epoch; written as RFC 3339.
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    created_at: Option<i64> = created_at,               Time,    REQUIRED, F::Time,                   SORT,    Off,     LIST,   "created";
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    updated_at: Option<i64> = updated_at,               Time,    REQUIRED, F::Off,                    SORT,    Off,     HIDDEN, "updated";
}

/// The filter parameter names of `column` with the comparison each makes, e.g.
/// `reward_min` (`Ge`); empty for a column that is not filterable.
pub fn filter_names(column: &Column) -> Vec<(String, Comparison)> {
    let name = column.name;
    match column.filter {
        ColumnFilter::Off => Vec::new(),
        ColumnFilter::Wildcard
        | ColumnFilter::Substring
        | ColumnFilter::AnyOf
        | ColumnFilter::Bool
        | ColumnFilter::ListAny => vec![(name.to_string(), Comparison::Eq)],
        ColumnFilter::Range(exact) => {
            let exact = match exact {
                Exact::No => None,
                Exact::Bare => Some(name.to_string()),
                Exact::Suffix => Some(format!("{name}_exact")),
            };
            let range = [(format!("{name}_min"), Comparison::Ge), (format!("{name}_max"), Comparison::Le)];
            exact.map(|e| (e, Comparison::Eq)).into_iter().chain(range).collect()
        }
        ColumnFilter::Time => {
            let stem = name.strip_suffix("_at").unwrap_or(name);
            vec![(format!("{stem}_after"), Comparison::Ge), (format!("{stem}_before"), Comparison::Lt)]
        }
    }
}

/// The comparison a filter parameter makes with its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ge,
    Le,
    Lt,
}

/// The names of every summary column, in order.
pub const COLUMN_NAMES: &[&str] = &{
    let mut names = [""; COLUMNS.len()];
    let mut i = 0;
    while i < COLUMNS.len() {
        names[i] = COLUMNS[i].name;
        i += 1;
    }
    names
};

/// The columns of [`COLUMNS`] for which the const fn `$keep` holds, as a `&[&Column]`
/// computed at compile time.
macro_rules! select_columns {
    ($keep:ident) => {
        &{
            const N: usize = {
                let (mut i, mut n) = (0, 0);
                while i < COLUMNS.len() {
                    if $keep(&COLUMNS[i]) {
                        n += 1;
                    }
                    i += 1;
                }
                n
            };
            let mut out = [&COLUMNS[0]; N];
            let (mut i, mut j) = (0, 0);
            while i < COLUMNS.len() {
                if $keep(&COLUMNS[i]) {
                    out[j] = &COLUMNS[i];
                    j += 1;
                }
                i += 1;
            }
            out
        }
    };
}

const fn is_statistic(c: &Column) -> bool {
    !matches!(c.statistic, Statistic::Off)
}

const fn is_sortable(c: &Column) -> bool {
    c.sortable
}

/// The columns statistics aggregate, in order.
pub const STATISTIC_COLUMNS: &[&Column] = select_columns!(is_statistic);

/// The columns a list can be sorted by, in order.
pub const SORTABLE_COLUMNS: &[&Column] = select_columns!(is_sortable);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_reads_back_what_it_wrote() {
        let line = crate::demo::DemoConfig::with_total(200, 7).lines().nth(3).unwrap();
        let t = Trajectory::from_json(line.as_bytes()).unwrap();
        let mut back = Trajectory::default();
        let mut summary = Summary::default();
        for c in COLUMNS {
            (c.set)(&mut back, (c.get)(&t).to_value()).unwrap();
            (c.summary_set)(&mut summary, (c.get)(&t).to_value()).unwrap();
            assert_eq!((c.get)(&back), (c.get)(&t), "{}", c.name);
        }
        assert_eq!(summary, Summary::from(&t));
        assert_eq!(COLUMN_NAMES.len(), COLUMNS.len());
        assert!(STATISTIC_COLUMNS.iter().any(|c| c.name == "reward"));
    }

    #[test]
    fn filter_names_follow_the_filter_kind() {
        let names = |n: &str| filter_names(Column::named(n).unwrap()).into_iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(names("reward"), ["reward_exact", "reward_min", "reward_max"]);
        assert_eq!(names("epoch_id"), ["epoch_id", "epoch_id_min", "epoch_id_max"]);
        assert_eq!(names("created_at"), ["created_after", "created_before"]);
        assert!(names("notes").is_empty());
    }
}
