#!/usr/bin/env python3
"""Compile a source that must NOT compile, and check the diagnostic.

    run.py --expect MESSAGE --source FILE -- COMPILER ARGS...

Passes when the compiler fails, its output contains MESSAGE, and it reports at
most MAX_ERRORS errors (one readable message, not a page of template noise).
"""
import argparse
import subprocess
import sys
import tempfile
import os

MAX_ERRORS = 2


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("compiler", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = [c for c in args.compiler if c != "--"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.o")
        proc = subprocess.run(command + ["-fsyntax-only", args.source], capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    errors = [line for line in text.splitlines() if " error: " in line or line.startswith("error:")]
    if proc.returncode == 0:
        print(f"FAIL: {args.source} compiled, but it must not")
        return 1
    if args.expect not in text:
        print(f"FAIL: the diagnostic lacks {args.expect!r}:\n{text}")
        return 1
    if len(errors) > MAX_ERRORS:
        print(f"FAIL: {len(errors)} errors, expected at most {MAX_ERRORS}:\n" + "\n".join(errors))
        return 1
    print(f"ok: rejected with {len(errors)} error(s): {errors[0] if errors else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
