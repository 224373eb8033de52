//! The claude_code format: its fixture (tests/fixtures/claude_code/) and the real data.
