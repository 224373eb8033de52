//! The harbor format: its fixture (tests/fixtures/harbor/) and the real data.
