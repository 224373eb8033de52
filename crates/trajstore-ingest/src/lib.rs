//! Reading trajectory files into validated records, in bounded memory.
//!
//! * [`expand_inputs`] turns command-line arguments (files, directories, globs, `-`) into
//!   a list of [`Input`]s, failing early on a path that does not exist.
//! * [`read_input`] streams one input, decompressing gzip or zstd (detected from the
//!   content), and hands every record or every error, with its place, to a callback.
//!
//! Layouts understood (per file, detected from the content):
//! * JSON Lines: one trajectory per line ("format 1"), or a line holding
//!   `{"trajectories": [...]}` ("format 2"); blank lines, CRLF ends and a UTF-8 BOM are fine.
//! * A JSON array of trajectories, streamed element by element.
//! * A single JSON object spread over several lines (a `.json` file).
//!
//! [`read_input_with`] also reads the formats of agent frameworks and RL trainers
//! (tau-bench, tau2, InterCode, Responses API, mini-swe-agent, SWE-agent, Inspect,
//! OpenHands, verl, ATIF, OpenAI chat), detected per file or named, through
//! `trajstore-formats`; see `docs/formats.md`.

mod formats;
mod input;
mod reader;

pub use formats::{read_input_with, FormatChoice, ReadOptions};
pub use input::{expand_inputs, Input};
pub use reader::{read_input, Item, ItemError, Location, Progress};
pub use trajstore_formats::{Format, FormatError};

/// Errors that stop reading one input (as opposed to one bad record).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{pattern}: the pattern matches no file")]
    NoMatch { pattern: String },
    #[error("{pattern}: invalid glob pattern: {message}")]
    BadPattern { pattern: String, message: String },
}
