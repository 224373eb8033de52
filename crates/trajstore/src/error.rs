//! The library's one error type. The CLI maps it to messages and exit codes, the server
//! to HTTP statuses, each in one place.

use trajstore_query::QueryError;

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
    Store(#[from] trajstore_store::StoreError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// The embedding model is missing or failed.
    #[error(transparent)]
    Embed(#[from] trajstore_embed::EmbedError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Self {
        Error::InvalidParameter { parameter: e.parameter, message: e.message }
    }
}

impl Error {
    pub fn invalid(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidParameter { parameter: parameter.into(), message: message.into() }
    }

    /// A short stable code for the error's kind (used in JSON error bodies).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::NotFound { .. } => "not_found",
            Error::Input(_) => "invalid_input",
            Error::Store(_) => "storage_error",
            Error::Io { .. } => "io_error",
            Error::Internal(_) => "internal_error",
            Error::Embed(_) => "embedding_unavailable",
        }
    }

    /// The parameter or field at fault, where there is one.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            Error::InvalidParameter { parameter, .. } => Some(parameter),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
