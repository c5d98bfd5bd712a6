#!/usr/bin/env python3
"""Write the first ```cpp block after a Markdown heading to a file, so the
README's quick start is compiled and run as a test and cannot rot.

    extract_snippet.py README.md "## Quick start" out.cpp
"""
import pathlib
import sys


def main() -> int:
    source, heading, output = sys.argv[1], sys.argv[2], sys.argv[3]
    lines = pathlib.Path(source).read_text(encoding="utf-8").splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        sys.exit(f"extract_snippet: heading {heading!r} not found in {source}")
    block, inside = [], False
    for line in lines[start + 1:]:
        if not inside and line.strip() == "```cpp":
            inside = True
            continue
        if inside and line.strip() == "```":
            break
        if inside:
            block.append(line)
    if not block:
        sys.exit(f"extract_snippet: no ```cpp block after {heading!r}")
    text = "// Generated from " + pathlib.Path(source).name + " by tools/extract_snippet.py\n"
    text += "\n".join(block) + "\n"
    out = pathlib.Path(output)
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
