#!/usr/bin/env python3
"""Size gate for the Rust sources: no file over 600 lines and no function over 80 lines,
tests aside (everything from a file's first `#[cfg(test)]` on is not counted).

Braces are counted outside string and character literals, which is close enough for
this codebase's style; a function that is a table (a long match of constants) may be
listed in ALLOWED with the reason.
"""

import re
import sys
from pathlib import Path

MAX_FILE_LINES = 600
MAX_FN_LINES = 80
ALLOWED: dict[str, str] = {}

FN = re.compile(r"\s*(pub(\([a-z]+\))? )?(async )?(const )?(unsafe )?fn (\w+)")
STRINGS = re.compile(r'"(\\.|[^"\\])*"')
CHARS = re.compile(r"b?'(\\.|[^'\\])'")


def code_lines(path: Path) -> list[str]:
    lines = path.read_text().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("#[cfg(test)]"):
            return lines[:i]
    return lines


def long_functions(lines: list[str]):
    i = 0
    while i < len(lines):
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            text = CHARS.sub("", STRINGS.sub('""', lines[j]))
            for ch in text:
                if ch == "{":
                    depth, started = depth + 1, True
                elif ch == "}":
                    depth -= 1
            if (started and depth == 0) or (not started and text.rstrip().endswith(";")):
                break
            j += 1
        if j - i + 1 > MAX_FN_LINES:
            yield m.group(6), i + 1, j - i + 1
        i = j + 1


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    problems = []
    for path in sorted(root.glob("crates/*/src/**/*.rs")):
        rel = path.relative_to(root)
        lines = code_lines(path)
        if len(lines) > MAX_FILE_LINES:
            problems.append(f"{rel}: {len(lines)} lines (at most {MAX_FILE_LINES}, tests aside)")
        for name, line, n in long_functions(lines):
            if f"{rel}::{name}" not in ALLOWED:
                problems.append(f"{rel}:{line}: fn {name} is {n} lines (at most {MAX_FN_LINES})")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
