#!/usr/bin/env python3
"""Size gate for the Rust sources: no file over 600 lines, tests aside (everything from
a file's first `#[cfg(test)]` on is not counted). Function length is clippy's gate
(`too_many_lines`, the limit in clippy.toml)."""

import sys
from pathlib import Path

MAX_FILE_LINES = 600


def code_lines(path: Path) -> int:
    lines = path.read_text().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("#[cfg(test)]"):
            return i
    return len(lines)


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    problems = [
        f"{path.relative_to(root)}: {n} lines (at most {MAX_FILE_LINES}, tests aside); split it by concern"
        for path in sorted(root.glob("crates/*/src/**/*.rs"))
        if (n := code_lines(path)) > MAX_FILE_LINES
    ]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
