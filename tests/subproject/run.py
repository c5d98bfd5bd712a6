#!/usr/bin/env python3
"""Use babelbird the way a downstream meson project does: as a subproject found
through `dependency('babelbird')` (meson.override_dependency), then build and run
a consumer. Prints `1 passed, 0 failed` or `0 passed, 1 failed`."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
EXPECTED = [
    "https://disk.example.com/babel/api/refreshToken.do"
    "?grant_type=refresh_token&refresh_token=rt%2B%2F%3D",
    "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
]

CONSUMER_MESON = """project('consumer', 'cpp', default_options: ['cpp_std=c++20', 'warning_level=3', 'werror=true'])
babelbird = dependency('babelbird', fallback: ['babelbird', 'babelbird_dep'], default_options: ['tests=false', 'cli=disabled'])
executable('consumer', 'consumer.cpp', dependencies: babelbird)
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        project = pathlib.Path(tmp) / "consumer"
        sub = project / "subprojects" / "babelbird"
        sub.mkdir(parents=True)
        for name in ("meson.build", "meson_options.txt"):
            shutil.copy(ROOT / name, sub / name)
        shutil.copytree(ROOT / "include", sub / "include")
        shutil.copytree(ROOT / "single_include", sub / "single_include")
        for d in ("tests", "cli", "bench", "fuzz"):
            (sub / d).mkdir()
            (sub / d / "meson.build").write_text("")
        shutil.copy(HERE / "consumer.cpp", project / "consumer.cpp")
        (project / "meson.build").write_text(CONSUMER_MESON)
        env = dict(os.environ)
        build = project / "build"
        for cmd in (["meson", "setup", str(build)], ["ninja", "-C", str(build)]):
            proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-3000:])
                print("0 passed, 1 failed")
                return 1
        out = subprocess.run([str(build / "consumer")], capture_output=True, text=True)
        lines = out.stdout.splitlines()
        if out.returncode != 0 or lines != EXPECTED:
            print("unexpected output:", lines)
            print("0 passed, 1 failed")
            return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
