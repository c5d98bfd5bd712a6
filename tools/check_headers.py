#!/usr/bin/env python3
"""Compile every public header on its own: each must be self-contained.

For every include/babelbird/**/*.hpp, a translation unit that includes it
(twice, to check the include guard) is compiled with -fsyntax-only and the
strict warning set. Headers of the opt-in adapters get their library's flags
(libcurl for adapters/curl.hpp, hiredis for adapters/redis.hpp, cpp-httplib for
testing/fake_server.hpp) from pkg-config.

    tools/check_headers.py                   with $CXX (default c++)
    tools/check_headers.py --cxx clang++     another compiler
    tools/check_headers.py --extra=-fno-exceptions
Prints each failure with the compiler's first lines, then "N passed, M failed".
"""
import argparse
import concurrent.futures
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "include"
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wsign-conversion", "-Wshadow",
            "-Werror"]
# Headers that exist only for BABELBIRD_SEPARATE_COMPILATION builds.
DEFINES = {
    "src.hpp": ["-DBABELBIRD_SEPARATE_COMPILATION"],
}
# pkg-config packages a header needs besides simdjson (by path under include/babelbird/).
PACKAGES = {
    "adapters/curl.hpp": ["libcurl"],
    "adapters/redis.hpp": ["hiredis"],
    "adapters/asio.hpp": [],  # Boost.Asio: headers in the default path, no .pc in Debian
    "adapters/beast.hpp": ["openssl"],
    "testing/fake_server.hpp": ["cpp-httplib"],
}


def pkg_cflags(packages):
    if not packages:
        return []
    out = subprocess.run(["pkg-config", "--cflags"] + packages, capture_output=True, text=True)
    return shlex.split(out.stdout) if out.returncode == 0 else []


def compile_one(cxx, extra, header, workdir):
    rel = header.relative_to(INCLUDE / "babelbird").as_posix()
    tu = pathlib.Path(workdir) / (rel.replace("/", "__") + ".cpp")
    tu.write_text(f"#include <babelbird/{rel}>\n#include <babelbird/{rel}>\n", encoding="ascii")
    cmd = cxx + ["-std=c++20", "-fsyntax-only"] + WARNINGS + extra + DEFINES.get(rel, [])
    cmd += ["-I", str(INCLUDE)]
    cmd += pkg_cflags(["simdjson"] + PACKAGES.get(rel, [])) + [str(tu)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return rel, r.returncode == 0, r.stdout + r.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cxx", default=os.environ.get("CXX", "c++"))
    parser.add_argument("--extra", action="append", default=[], help="more compiler flags")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    headers = sorted(INCLUDE.glob("babelbird/**/*.hpp"))
    passed = failed = 0
    with tempfile.TemporaryDirectory() as workdir, \
            concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(compile_one, shlex.split(args.cxx), args.extra, h, workdir)
                for h in headers]
        for job in jobs:
            rel, ok, output = job.result()
            if ok:
                passed += 1
                print(f"ok      babelbird/{rel}")
            else:
                failed += 1
                print(f"FAILED  babelbird/{rel}")
                for line in output.splitlines()[:15]:
                    print("    " + line)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
