# Sourced by the scripts: one persistent build directory outside the clone, so that a
# fresh clone (CI) reuses the compiled Lance crates instead of spending ~10 minutes.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trajstore-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
