#!/usr/bin/env python3
"""Summarise a `meson test` run: one line per test, then `N passed, M failed`.

doctest executables count their test cases (from doctest's own summary line);
every other test counts as one. A test whose process failed counts at least one
failure even if it printed a passing summary (a sanitizer report at exit, say).
"""
import json
import pathlib
import re
import sys

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")


def main() -> int:
    build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build")
    log = build / "meson-logs" / "testlog.json"
    if not log.is_file():
        print(f"test_summary: {log} not found")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        t = json.loads(line)
        ok = t.get("result") in ("OK", "EXPECTEDFAIL")
        skipped = t.get("result") == "SKIP"
        out = (t.get("stdout") or t.get("stdo") or "") + (t.get("stderr") or t.get("stde") or "")
        m = DOCTEST.findall(out)
        if m:
            _, p, f = (int(x) for x in m[-1])
        else:
            p, f = (1, 0) if ok else (0, 1)
        if not ok and not skipped and f == 0:
            f = 1
        if skipped:
            p = f = 0
        passed += p
        failed += f
        print(f"  {t.get('result', '?'):>6}  {t['name']}: {p} passed, {f} failed")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
