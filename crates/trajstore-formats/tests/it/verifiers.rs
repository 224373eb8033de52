//! The verifiers format: its fixture (tests/fixtures/verifiers/) and the real data.
