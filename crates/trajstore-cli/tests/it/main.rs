//! The end-to-end tests of the `trajstore` binary (run as a process, as a user runs it),
//! in one test binary: the CLI commands and the HTTP server.

// A test reads top to bottom as one scenario; its length is not split for its own sake.
#![allow(clippy::too_many_lines)]

mod cli;
mod server;
