//! The agentdojo format: its fixture (tests/fixtures/agentdojo/) and the real data.
