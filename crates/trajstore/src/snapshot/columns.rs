//! The snapshot as the filter kinds read it: its coded and Arrow columns behind
//! `trajstore_query::Columns`. The filters themselves are defined in trajstore-query,
//! next to their SQL.

use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, StringArray};
use trajstore_query::{Coded, CodedLists, Columns};

use super::Snapshot;

impl Columns for Snapshot {
    fn rows(&self) -> usize {
        self.rows
    }

    fn coded(&self, column: &'static str) -> Option<Coded<'_>> {
        self.dict(column).map(|d| d.view())
    }

    fn coded_lists(&self, column: &'static str) -> Option<CodedLists<'_>> {
        // `metadata_kv` is not held: metadata filters go to Lance.
        (column == "tags").then(|| self.tags.view())
    }

    fn strings<'a>(&'a self, column: &'static str) -> Option<impl Fn(usize) -> Option<&'a str> + 'a> {
        let a: &StringArray = self.array(column)?;
        Some(move |i| a.is_valid(i).then(|| a.value(i)))
    }

    fn floats(&self, column: &'static str) -> Option<impl Fn(usize) -> Option<f64> + '_> {
        let a: &Float64Array = self.array(column)?;
        Some(move |i| a.is_valid(i).then(|| a.value(i)))
    }

    fn ints(&self, column: &'static str) -> Option<impl Fn(usize) -> Option<i64> + '_> {
        let a: &Int64Array = self.array(column)?;
        Some(move |i| a.is_valid(i).then(|| a.value(i)))
    }

    fn bools(&self, column: &'static str) -> Option<impl Fn(usize) -> Option<bool> + '_> {
        let a: &BooleanArray = self.array(column)?;
        Some(move |i| a.is_valid(i).then(|| a.value(i)))
    }
}
