#!/usr/bin/env python3
"""Check that the project's sources are ASCII-only.

Scans the code, build and script files under include/, single_include/,
tests/, cli/, bench/, fuzz/, examples/ and tools/ (not test data such as
tests/hostile/ or fuzz/corpus/, which hold hostile bytes on purpose) and
reports every non-ASCII byte with its file, line and column.

    tools/check_ascii.py            prints "N passed, M failed" (files); exit 1 on any failure
    tools/check_ascii.py PATH...    checks only these files or directories
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DIRS = ["include", "single_include", "tests", "cli", "bench", "fuzz", "examples", "tools"]
SUFFIXES = {".hpp", ".h", ".cpp", ".cc", ".c", ".ipp", ".py", ".sh", ".build", ".txt", ".dict",
            ".cmake", ".in"}
NAMES = {"meson.build", "meson_options.txt", "meson.options", "CMakeLists.txt", "run.sh"}
# Data, not source: hostile inputs and fuzzing seeds are bytes by design.
SKIP = [("tests", "hostile"), ("fuzz", "corpus"), ("fuzz", "artifacts")]


def is_source(path: pathlib.Path) -> bool:
    rel = path.relative_to(ROOT).parts
    if any(rel[: len(s)] == s for s in SKIP):
        return False
    if any(part.startswith("build") or part == "__pycache__" for part in rel[:-1]):
        return False
    return path.suffix in SUFFIXES or path.name in NAMES or (
        path.suffix == "" and path.is_file() and path.stat().st_mode & 0o111 != 0)


def files(args):
    roots = [pathlib.Path(a).resolve() for a in args] or [ROOT / d for d in DIRS]
    for r in roots:
        if r.is_file():
            yield r
        elif r.is_dir():
            yield from sorted(p for p in r.rglob("*") if p.is_file() and is_source(p))


def check(path: pathlib.Path) -> list:
    problems = []
    for lineno, line in enumerate(path.read_bytes().split(b"\n"), 1):
        for col, byte in enumerate(line, 1):
            if byte > 0x7F:
                problems.append(f"{path.relative_to(ROOT)}:{lineno}:{col}: non-ASCII byte 0x{byte:02X}")
                break
    return problems


def main() -> int:
    passed = failed = 0
    for path in files(sys.argv[1:]):
        problems = check(path)
        if problems:
            failed += 1
            for p in problems[:5]:
                print(p)
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
