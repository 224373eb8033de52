//! The integration tests of trajstore-formats, in one test binary: a module per concern,
//! and one per format of the second wave (each with its fixture and real-data checks).

// A test reads top to bottom as one scenario; its length is not split for its own sake.
#![allow(clippy::too_many_lines)]

mod common;
mod fixtures;
mod realdata;
mod usage;

mod agentdojo;
mod aider;
mod claude_code;
mod codex;
mod gemini_cli;
mod harbor;
mod opencode;
mod otlp;
mod verifiers;
