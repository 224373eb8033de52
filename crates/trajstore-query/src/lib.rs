//! The query language shared by the CLI, the HTTP API and the web UI.
//!
//! * [`FilterSet`]: the filter names of the old system (`reward_min`, `training_id`,
//!   `metadata.KEY`, ...) parsed into typed filters and rendered as a SQL predicate in
//!   which every user string is escaped (quotes doubled, LIKE's `%`, `_` and `\` escaped),
//!   or evaluated over rows held in memory ([`Columns`]); each kind defines both.
//! * [`ListRequest`]: sort (from a fixed list of columns), order, page, page size and
//!   keyset cursors.
//! * [`VersionedCache`]: a bounded cache whose keys include the dataset version, so a
//!   write by any process makes old entries unreachable: no invalidation calls.

mod cache;
mod filter;
mod request;
pub mod sql;

pub use cache::{CacheStats, VersionedCache};
pub use filter::{
    filter_params, metadata_entries, AnyOf, BoolIs, Cmp, Coded, CodedLists, Columns, Contains, Filter, FilterKind,
    FilterParam, FilterSet, FilterValue, FloatCmp, IntCmp, Metadata, RowTest, TagsAny, Wildcard, FILTER_NAMES,
    NULL_CODE,
};
pub use request::{parse_count, Cursor, ListRequest, Order, SortField, SortValue, MAX_PAGE_SIZE};

/// A bad query parameter: which one, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct QueryError {
    pub parameter: String,
    pub message: String,
}

impl QueryError {
    pub fn new(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        QueryError { parameter: parameter.into(), message: message.into() }
    }
}
