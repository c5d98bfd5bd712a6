#!/usr/bin/env python3
"""Write the first ```cpp block after a Markdown heading to a file, so the
README's quick start is compiled and run as a test and cannot rot; or, for a
header, its first `/// @code` ... `/// @endcode` block without the `///`, so a
doc comment's example is compiled too (tests/doc_examples/ include it).

    extract_snippet.py README.md "## Quick start" out.cpp
    extract_snippet.py include/babelbird/machines/exchange.hpp @code out.hpp
"""
import pathlib
import sys


def main() -> int:
    source, heading, output = sys.argv[1], sys.argv[2], sys.argv[3]
    lines = pathlib.Path(source).read_text(encoding="utf-8").splitlines()
    if heading == "@code":
        return doc_comment_example(source, lines, output)
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
    return write(source, block, output)


def doc_comment_example(source: str, lines: list, output: str) -> int:
    block, inside = [], False
    for line in lines:
        stripped = line.strip()
        if not inside and stripped == "/// @code":
            inside = True
            continue
        if inside and stripped == "/// @endcode":
            break
        if inside:
            if not stripped.startswith("///"):
                sys.exit(f"extract_snippet: a line of the @code block in {source} is not a /// comment")
            text = stripped[3:]
            block.append(text[1:] if text.startswith(" ") else text)
    if not block:
        sys.exit(f"extract_snippet: no /// @code block in {source}")
    return write(source, block, output)


def write(source: str, block: list, output: str) -> int:
    text = "// Generated from " + pathlib.Path(source).name + " by tools/extract_snippet.py\n"
    text += "\n".join(block) + "\n"
    out = pathlib.Path(output)
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
