//! The opencode format: its fixture (tests/fixtures/opencode/) and the real data.
