//! The trajectory data model of trajstore.
//!
//! * [`Trajectory`]: one record of the native format, parsed and validated from JSON
//!   without building a DOM of its (possibly megabytes of) steps.
//! * [`Summary`]: the narrow view of a trajectory (no steps) that lists and queries return.
//! * [`demo`]: a seeded generator of realistic RL data for the demo and the benchmarks.
//!
//! This crate does no I/O and knows nothing of storage.

mod columns;
pub mod demo;
mod raw;
mod step;
pub mod step_facts;
mod step_scan;
mod summary;
pub mod text;
mod time;
mod trajectory;

pub use columns::{
    filter_names, Cell, CellField, CellValue, Column, ColumnFilter, ColumnType, Comparison, Exact, Statistic, Summary,
    COLUMNS, COLUMN_NAMES, SORTABLE_COLUMNS, STATISTIC_COLUMNS,
};
pub use raw::RawObject;
pub use summary::SUMMARY_FIELDS;
pub use time::{format_timestamp, parse_timestamp};
pub use trajectory::{tag_problem, RecordError, TextCache, Trajectory, KNOWN_FIELDS};
