//! The library's one error type. The CLI maps it to messages and exit codes, the server
//! to HTTP statuses, each in one place.

use trajstore_query::QueryError;

/// Any error, kept whole so that its chain of causes can be logged.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request parameter or field is wrong; the caller can fix it.
    #[error("{parameter}: {message}")]
    InvalidParameter { parameter: String, message: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// An input file could not be opened or named nothing.
    #[error(transparent)]
    Input(#[from] trajstore_ingest::IngestError),
    #[error(transparent)]
    Store(trajstore_store::StoreError),
    /// A query hit one of its limits (time, memory); the message names it.
    #[error("{message}")]
    LimitExceeded { limit: &'static str, message: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// The embedding model is missing or failed.
    #[error(transparent)]
    Embed(#[from] trajstore_embed::EmbedError),
    /// The language model that labels clusters failed or answered no label.
    #[error(transparent)]
    LabelModel(#[from] trajstore_embed::ChatError),
    /// A stored record cannot be worked on as asked (its JSON holds a number beyond f64,
    /// say), although it reads back as stored text.
    #[error("{0}")]
    Unreadable(String),
    /// A path on this machine that a remote caller may not read.
    #[error(transparent)]
    Refused(#[from] crate::upload::PathRefused),
    /// A bug or a failure below us (a panicked task, Arrow refusing a batch): the cause is
    /// kept, not flattened into text, so that a server can log the whole chain.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl From<trajstore_store::StoreError> for Error {
    fn from(e: trajstore_store::StoreError) -> Self {
        use trajstore_store::{SqlError, StoreError};
        match e {
            StoreError::Sql(e @ (SqlError::NotARead(_) | SqlError::Invalid(_))) => Error::invalid("sql", e.to_string()),
            StoreError::Sql(e @ SqlError::MemoryLimit { .. }) => {
                Error::LimitExceeded { limit: "memory", message: e.to_string() }
            }
            e => Error::Store(e),
        }
    }
}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Self {
        Error::InvalidParameter { parameter: e.parameter, message: e.message }
    }
}

/// What was being done when `source` failed; its `source()` is the cause.
#[derive(Debug)]
struct Context {
    context: String,
    source: BoxError,
}

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for Context {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

impl Error {
    pub fn invalid(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidParameter { parameter: parameter.into(), message: message.into() }
    }

    /// An internal error that says what was being done, keeping `source` as its cause.
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Internal(Box::new(Context { context: context.into(), source: source.into() }))
    }

    /// A short stable code for the error's kind (used in JSON error bodies).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::NotFound { .. } => "not_found",
            Error::Input(_) => "invalid_input",
            Error::Store(trajstore_store::StoreError::WritesRefused(_)) => "writes_refused",
            Error::Store(_) => "storage_error",
            Error::LimitExceeded { .. } => "limit_exceeded",
            Error::Io { .. } => "io_error",
            Error::Unreadable(_) => "unreadable_record",
            Error::Refused(crate::upload::PathRefused::Missing { .. }) => "not_found",
            Error::Refused(crate::upload::PathRefused::NotAFile { .. }) => "invalid_parameter",
            Error::Refused(_) => "forbidden",
            Error::Internal(_) => "internal_error",
            Error::Embed(_) => "embedding_unavailable",
            Error::LabelModel(_) => "model_unavailable",
        }
    }

    /// The parameter or field at fault, where there is one.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            Error::InvalidParameter { parameter, .. } => Some(parameter),
            Error::Refused(_) => Some("path"),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn an_internal_error_keeps_its_cause() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::internal("writing parquet", io);
        assert_eq!(e.to_string(), "internal error: writing parquet: disk on fire");
        let context = e.source().expect("the context");
        assert_eq!(context.source().expect("the cause").to_string(), "disk on fire");
    }
}
