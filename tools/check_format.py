#!/usr/bin/env python3
"""Check that every tracked C++ file is formatted with the committed .clang-format.

Runs clang-format (clang-format-14 by default, the version CI installs) on
every tracked .hpp/.cpp outside single_include/ (generated) and compares its
output with the file. The output is compared instead of using --dry-run
--Werror, because clang-format 14's --dry-run flags the closing comment
`} // namespace babelbird::inline v1` although formatting changes nothing.

    tools/check_format.py                         all tracked files
    tools/check_format.py FILE...                 only these
    tools/check_format.py --clang-format clang-format-15
Prints each unformatted file with the first differing lines, then
"N passed, M failed". Fix with `clang-format-14 -i FILE`.
"""
import argparse
import concurrent.futures
import difflib
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUFFIXES = {".hpp", ".cpp"}
SKIP = ["single_include/"]


def tracked():
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for line in sorted(out.splitlines()):
        path = ROOT / line
        if path.suffix in SUFFIXES and path.is_file() and not any(line.startswith(s) for s in SKIP):
            yield path


def check(tool, path):
    original = path.read_text(encoding="utf-8", errors="surrogateescape")
    r = subprocess.run([tool, f"--style=file:{ROOT / '.clang-format'}",
                        f"--assume-filename={path}"], input=original, capture_output=True,
                       text=True, errors="surrogateescape")
    if r.returncode != 0:
        return path, False, r.stderr.strip().splitlines()[:5]
    if r.stdout == original:
        return path, True, []
    diff = difflib.unified_diff(original.splitlines(), r.stdout.splitlines(), "as committed",
                                "as formatted", n=0, lineterm="")
    return path, False, list(diff)[:12]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clang-format", default=os.environ.get("CLANG_FORMAT", "clang-format-14"))
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    args = parser.parse_args()
    if shutil.which(args.clang_format) is None:
        print(f"check_format: {args.clang_format} not found (scripts/install-deps --ci)")
        print("0 passed, 1 failed")
        return 1
    files = [p.resolve() for p in args.files] or list(tracked())
    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for path, ok, details in pool.map(lambda p: check(args.clang_format, p), files):
            if ok:
                passed += 1
                continue
            failed += 1
            print(f"not formatted: {path.relative_to(ROOT)}")
            for line in details:
                print("    " + line)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
