//! The integration tests of the trajstore library, in one test binary (one link of Lance
//! instead of one per file): a module per concern.

// A test reads top to bottom as one scenario; its length is not split for its own sake.
#![allow(clippy::too_many_lines)]

mod export_stream;
mod failure_modes;
mod filter_kinds;
mod follow;
mod formats_import;
mod groups_reference;
mod import_pipeline;
mod query_reference;
mod search;
mod sql;
mod stats_reference;
