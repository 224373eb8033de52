//! The summary row: every field of a trajectory except its steps and task object.
//! Lists, queries and exports of "rows" return this shape. [`Summary`] itself is declared
//! with the column table (see `columns.rs`).

use crate::columns::COLUMNS;
use crate::time::format_timestamp;
use crate::{Summary, Trajectory};

/// The fields of a summary row, in output order.
pub const SUMMARY_FIELDS: &[&str] = crate::columns::COLUMN_NAMES;

pub(crate) fn ser_time<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(micros) => s.serialize_str(&format_timestamp(*micros)),
        None => s.serialize_none(),
    }
}

impl From<&Trajectory> for Summary {
    fn from(t: &Trajectory) -> Self {
        let mut s = Summary::default();
        for c in COLUMNS {
            // Metadata that is not valid JSON (never stored so) reads as absent.
            if (c.summary_set)(&mut s, (c.get)(t).to_value()).is_err() {
                (c.summary_set)(&mut s, crate::CellValue::Str(None)).ok();
            }
        }
        s
    }
}
