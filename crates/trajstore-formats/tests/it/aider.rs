//! The aider format: its fixture (tests/fixtures/aider/) and the real data.
