#!/usr/bin/env python3
"""Check that every header includes only headers of its own or a lower layer.

The layers of include/babelbird/ (docs/design.md, "Layout"), lowest first:

    config < values < encoding < requests < answers < machines < drivers
           < adapters < testing

A header's layer is its first folder under include/babelbird/ (internals in
a detail/ folder belong to the layer around it). The umbrellas babelbird.hpp
and src.hpp are exempt. Every `#include "babelbird/..."` of a header names
an existing header of its own or a lower layer; every `babelbird/...`
include of a file outside include/ (tests, tools, cli, bench, fuzz,
examples) names a header that exists.

    tools/check_layers.py     one line per violation, then "N passed, M failed" (files)
"""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BASE = ROOT / "include" / "babelbird"
LAYERS = ["config", "values", "encoding", "requests", "answers", "machines", "drivers",
          "adapters", "testing"]
UMBRELLAS = {"babelbird.hpp", "src.hpp"}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"](babelbird/[^">]+)[">]', re.MULTILINE)
SOURCE_SUFFIXES = {".hpp", ".h", ".cpp", ".cc", ".ipp", ".in"}
OUTSIDE = ["tests", "tools", "cli", "bench", "fuzz", "examples"]


def layer_of(rel: str):
    """The layer of a path relative to include/babelbird/, or None."""
    first = rel.split("/", 1)[0]
    return first if first in LAYERS and "/" in rel else None


def tracked_files():
    """The files git tracks (and untracked ones it does not ignore), else every file."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]


def check_header(path: pathlib.Path) -> list:
    rel = path.relative_to(BASE).as_posix()
    problems = []
    if rel in UMBRELLAS:
        for inc in INCLUDE.findall(path.read_text(encoding="utf-8", errors="replace")):
            if not (ROOT / "include" / inc).is_file():
                problems.append(f"include/babelbird/{rel}: includes {inc}, which does not exist")
        return problems
    own = layer_of(rel)
    if own is None:
        return [f"include/babelbird/{rel}: not in a layer folder ({', '.join(LAYERS)})"]
    for inc in INCLUDE.findall(path.read_text(encoding="utf-8", errors="replace")):
        target = inc[len("babelbird/"):]
        if not (ROOT / "include" / inc).is_file():
            problems.append(f"include/babelbird/{rel}: includes {inc}, which does not exist")
            continue
        if target in UMBRELLAS:
            problems.append(f"include/babelbird/{rel} ({own}) includes the umbrella {inc}")
            continue
        theirs = layer_of(target)
        if theirs is None or LAYERS.index(theirs) > LAYERS.index(own):
            problems.append(
                f"include/babelbird/{rel} ({own}) includes {inc} ({theirs}), a higher layer")
    return problems


def check_outside(path: pathlib.Path) -> list:
    rel = path.relative_to(ROOT).as_posix()
    problems = []
    for inc in INCLUDE.findall(path.read_text(encoding="utf-8", errors="replace")):
        if not (ROOT / "include" / inc).is_file():
            problems.append(f"{rel}: includes {inc}, which does not exist")
    return problems


def main() -> int:
    files = tracked_files()
    headers = sorted(p for p in files if p.suffix == ".hpp" and BASE in p.parents)
    outside = sorted(p for p in files
                     if p.suffix in SOURCE_SUFFIXES and p.relative_to(ROOT).parts[0] in OUTSIDE)
    passed = failed = 0
    for path in headers:
        problems = check_header(path)
        for line in problems:
            print(line)
        passed, failed = (passed, failed + 1) if problems else (passed + 1, failed)
    for path in outside:
        problems = check_outside(path)
        for line in problems:
            print(line)
        passed, failed = (passed, failed + 1) if problems else (passed + 1, failed)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
