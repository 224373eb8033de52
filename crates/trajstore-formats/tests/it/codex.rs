//! The codex format: its fixture (tests/fixtures/codex/) and the real data.
