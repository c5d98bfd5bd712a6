#!/usr/bin/env python3
"""Use babelbird the way a downstream meson project does: as a subproject found
through `dependency('babelbird')` with the parent's default options, then build
and run a consumer.

The subproject is a copy of the whole checkout (tests, cli, bench and fuzz
included), and the test fails unless the parent's build holds the consumer and
nothing else: no babelbird test, CLI, benchmark or fuzzer target, no babelbird
test registered, no build edge under subprojects/babelbird, and the parent's
own warning_level/werror/buildtype untouched by babelbird's project() defaults.
The adapter dependencies (babelbird-curl, -redis, -testing) must be found
exactly when their own dependency is installed. Prints `1 passed, 0 failed` or
`0 passed, 1 failed`."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "tests" / "packaging" / "consumer.cpp"
EXPECTED = [
    "curl adapter ok",
    "babelbird 0.1.0",
    "https://disk.example.com/babel/api/refreshToken.do"
    "?grant_type=refresh_token&refresh_token=rt%2B%2F%3D",
    "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
]
# The parent sets no other option: meson's defaults must survive the subproject.
PARENT_DEFAULTS = {"warning_level": "1", "werror": False, "buildtype": "debug"}
ADAPTERS = {"babelbird-curl": "libcurl", "babelbird-redis": "hiredis", "babelbird-testing": "cpp-httplib"}

# The parent chooses C++20 itself (a dependency object cannot); it passes no
# option to babelbird.
CONSUMER_MESON = """project('consumer', 'cpp', default_options: ['cpp_std=c++20'])
babelbird = dependency('babelbird')
foreach name : ['babelbird-curl', 'babelbird-beast', 'babelbird-redis', 'babelbird-testing']
  message('adapter ' + name + ' ' + (dependency(name, required: false).found() ? 'found' : 'absent'))
endforeach
executable('consumer', 'consumer.cpp', cpp_args: '-DBABELBIRD_WITH_CURL',
           dependencies: dependency('babelbird-curl'))
"""


class Failure(Exception):
    pass


def run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def copy_checkout(dest: pathlib.Path) -> None:
    """The checkout's files as git sees them (tracked and new, not ignored): no build dirs."""
    names = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    for name in filter(None, names.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def check(project: pathlib.Path) -> None:
    build = project / "build"
    setup = run(["meson", "setup", str(build)], project)
    targets = json.loads(run(["meson", "introspect", str(build), "--targets"], project))
    extra = [f"{t['name']} ({t.get('subproject')})" for t in targets if t["name"] != "consumer" or t.get("subproject")]
    if extra:
        raise Failure(f"the parent's build holds babelbird targets: {extra}")
    tests = json.loads(run(["meson", "introspect", str(build), "--tests"], project))
    if tests:
        raise Failure(f"babelbird registered tests in the parent: {[t['name'] for t in tests]}")
    options = {o["name"]: o["value"] for o in json.loads(run(["meson", "introspect", str(build), "--buildoptions"], project))}
    changed = {k: options.get(k) for k, v in PARENT_DEFAULTS.items() if options.get(k) != v}
    if changed:
        raise Failure(f"babelbird changed the parent's options: {changed}")
    for name, package in ADAPTERS.items():
        present = subprocess.run(["pkg-config", "--exists", package]).returncode == 0
        want = f"adapter {name} {'found' if present else 'absent'}"
        if want not in setup:
            raise Failure(f"expected '{want}' in the parent's configure output")
    # build.ninja itself: not one edge may produce a file in the subproject's
    # part of the build directory (its meson.build files, listed as phony
    # inputs of the regeneration as ../subprojects/..., are not outputs).
    edges = run(["ninja", "-C", str(build), "-t", "targets", "all"], project)
    inside = [line for line in edges.splitlines() if line.startswith("subprojects/")]
    if inside:
        raise Failure("build.ninja builds files of the subproject:\n" + "\n".join(inside[:20]))
    run(["ninja", "-C", str(build)], project)
    out = subprocess.run([str(build / "consumer")], capture_output=True, text=True)
    if out.returncode != 0 or out.stdout.splitlines() != EXPECTED:
        raise Failure(f"unexpected output: {out.stdout.splitlines()} (exit {out.returncode})")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        project = pathlib.Path(tmp) / "consumer"
        sub = project / "subprojects" / "babelbird"
        sub.mkdir(parents=True)
        copy_checkout(sub)
        shutil.copy(CONSUMER, project / "consumer.cpp")
        (project / "meson.build").write_text(CONSUMER_MESON)
        try:
            check(project)
        except Failure as failure:
            print(f"FAIL: {failure}")
            print("0 passed, 1 failed")
            return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
