//! verifiers: not implemented yet (second-wave format; see issue 22).

use std::path::Path;

use crate::detect::Shape;
use crate::normalize::Context;
use crate::{Converted, FormatError};

pub fn convert(ctx: &mut Context<'_>, _file: &crate::SourceFile<'_>) -> Result<Vec<Converted>, FormatError> {
    Err(ctx.invalid("not implemented yet"))
}

/// True when the start of a file (`bytes`, whose first record's keys are `shape`) is this format.
pub(crate) fn detect(_shape: &Shape, _bytes: &[u8]) -> bool {
    false
}

/// True for a file a directory walk leaves out because this format reads it with another.
#[allow(dead_code)]
pub(crate) fn is_companion(_path: &Path) -> bool {
    false
}
