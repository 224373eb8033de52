//! The gemini_cli format: its fixture (tests/fixtures/gemini_cli/) and the real data.
