//! The end-to-end tests of the `trajstore` binary (run as a process, as a user runs it),
//! in one test binary: the CLI commands and the HTTP server.

mod cli;
mod server;
