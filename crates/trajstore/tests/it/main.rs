//! The integration tests of the trajstore library, in one test binary (one link of Lance
//! instead of one per file): a module per concern.

mod export_stream;
mod filter_kinds;
mod formats_import;
mod import_pipeline;
mod query_reference;
mod search;
mod stats_reference;
