#!/usr/bin/env python3
"""Consumers of babelbird's CMake package and pkg-config file, one case per
meson test (suite `packaging`).

    run.py --list            the case names
    run.py --case NAME       run one case; prints `1 passed, 0 failed` or `0 passed, 1 failed`

Each case works in its own temporary directory (removed afterwards), needs no
network, and builds at most one small consumer (tests/packaging/consumer.cpp,
which includes <babelbird/babelbird.hpp>) and runs it. CMake consumers use the
Ninja generator and do not set CMAKE_CXX_STANDARD: C++20 must come from
babelbird::babelbird's compile features.
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONSUMER = pathlib.Path(__file__).resolve().parent / "consumer.cpp"
EXPECTED = [
    "babelbird 0.1.0",
    "https://disk.example.com/babel/api/refreshToken.do"
    "?grant_type=refresh_token&refresh_token=rt%2B%2F%3D",
    "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
]

CMAKE_CONSUMER = """cmake_minimum_required(VERSION 3.16)
project(consumer LANGUAGES CXX)
{find}
add_executable(consumer consumer.cpp)
target_link_libraries(consumer PRIVATE {link})
{extra}
"""


class Failure(Exception):
    pass


def run(cmd, cwd=None, env=None, expect_failure=False):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    if expect_failure:
        if proc.returncode == 0:
            raise Failure(f"{' '.join(map(str, cmd))} succeeded, but it must fail:\n{text[-3000:]}")
    elif proc.returncode != 0:
        raise Failure(f"{' '.join(map(str, cmd))} failed (exit {proc.returncode}):\n{text[-3000:]}")
    return text


def consumer_project(tmp, find, link="babelbird::babelbird", extra="", curl=False):
    project = tmp / "consumer"
    project.mkdir()
    shutil.copy(CONSUMER, project / "consumer.cpp")
    if curl:
        extra += "\ntarget_compile_definitions(consumer PRIVATE BABELBIRD_WITH_CURL)"
    (project / "CMakeLists.txt").write_text(CMAKE_CONSUMER.format(find=find, link=link, extra=extra))
    return project


def configure(project, *args, expect_failure=False):
    return run(["cmake", "-S", project, "-B", project / "build", "-G", "Ninja", *args],
               expect_failure=expect_failure)


def build_and_run(project, build=None, curl=False):
    build = build or project / "build"
    run(["cmake", "--build", build])
    out = subprocess.run([str(build / "consumer")], capture_output=True, text=True)
    want = (["curl adapter ok"] if curl else []) + EXPECTED
    if out.returncode != 0 or out.stdout.splitlines() != want:
        raise Failure(f"consumer printed {out.stdout.splitlines()} (exit {out.returncode}), expected {want}")


def cmake_install(tmp):
    """babelbird configured with CMake alone and installed; returns the prefix.
    The prefix is given at install time, not at configure time, so the
    package is shown to be relocatable."""
    build = tmp / "babelbird-build"
    prefix = tmp / "prefix"
    run(["cmake", "-S", ROOT, "-B", build, "-G", "Ninja", "-DCMAKE_INSTALL_PREFIX=/nonexistent/babelbird"])
    run(["cmake", "--install", build, "--prefix", prefix])
    return prefix


def find_installed(version="0.1", components=""):
    return f"find_package(babelbird {version} REQUIRED{' COMPONENTS ' + components if components else ''})"


# ---- the cases ---------------------------------------------------------------


def case_cmake_install(tmp):
    """(a) find_package(babelbird 0.1 REQUIRED) from a prefix `cmake --install` wrote."""
    prefix = cmake_install(tmp)
    for name in ("babelbirdConfig.cmake", "babelbirdConfigVersion.cmake", "babelbirdTargets.cmake"):
        if not (prefix / "share" / "cmake" / "babelbird" / name).is_file():
            raise Failure(f"share/cmake/babelbird/{name} was not installed")
    project = consumer_project(tmp, find_installed())
    configure(project, f"-DCMAKE_PREFIX_PATH={prefix}")
    build_and_run(project)


def case_meson_install(tmp):
    """(b) `meson install` into a temporary prefix: find_package(babelbird) and
    pkg-config babelbird both work from it."""
    build = tmp / "meson-build"
    prefix = tmp / "prefix"
    run(["meson", "setup", build, ROOT, f"--prefix={prefix}", "-Dtests=false", "-Dcli=disabled"])
    run(["meson", "install", "-C", build, "--quiet"])
    project = consumer_project(tmp, find_installed())
    configure(project, f"-DCMAKE_PREFIX_PATH={prefix}")
    build_and_run(project)
    # pkg-config: the installed babelbird.pc, nothing else of the prefix.
    pcdirs = [str(p.parent) for p in prefix.glob("**/pkgconfig/babelbird.pc")]
    if not pcdirs:
        raise Failure("meson install wrote no babelbird.pc")
    env = dict(os.environ, PKG_CONFIG_PATH=os.pathsep.join(pcdirs + [os.environ.get("PKG_CONFIG_PATH", "")]))
    flags = run(["pkg-config", "--cflags", "--libs", "babelbird"], env=env).split()
    if f"-I{prefix}/include" not in flags:
        raise Failure(f"pkg-config babelbird gave {flags}, without -I{prefix}/include")
    if "-lsimdjson" not in flags:
        raise Failure(f"pkg-config babelbird gave {flags}, without simdjson")
    if subprocess.run(["pkg-config", "--exists", "openssl"]).returncode == 0:
        flags = run(["pkg-config", "--cflags", "--libs", "babelbird-beast"], env=env).split()
        for wanted in (f"-I{prefix}/include", "-lsimdjson", "-lssl", "-pthread", "-DBABELBIRD_BEAST_TLS=1"):
            if wanted not in flags:
                raise Failure(f"pkg-config babelbird-beast gave {flags}, without {wanted}")


def case_add_subdirectory(tmp):
    """(c) add_subdirectory(): the targets and nothing else (no install rules, no tests)."""
    project = consumer_project(tmp, f'add_subdirectory("{ROOT.as_posix()}" babelbird)')
    configure(project)
    check_polite(project / "build")
    build_and_run(project)


def case_fetchcontent(tmp):
    """(d) FetchContent, declared as a user would (a git URL and a tag), served
    from the local checkout: FETCHCONTENT_SOURCE_DIR_BABELBIRD and fully
    disconnected, so no network is touched."""
    find = """include(FetchContent)
FetchContent_Declare(babelbird GIT_REPOSITORY https://git.invalid/babelbird.git GIT_TAG v0.1.0)
FetchContent_MakeAvailable(babelbird)"""
    project = consumer_project(tmp, find)
    configure(project, f"-DFETCHCONTENT_SOURCE_DIR_BABELBIRD={ROOT}", "-DFETCHCONTENT_FULLY_DISCONNECTED=ON")
    check_polite(project / "build")
    build_and_run(project)


def check_polite(build):
    """Under add_subdirectory/FetchContent babelbird adds no install rule, no
    test and no build step of its own."""
    installed = build.parent / "installed"
    run(["cmake", "--install", build, "--prefix", installed])
    files = [p for p in installed.rglob("*") if p.is_file()] if installed.exists() else []
    if files:
        raise Failure(f"babelbird installed files from a parent's build: {files[:5]}")
    if list(build.rglob("CTestTestfile.cmake")):
        raise Failure("babelbird registered CTest tests in a parent's build")
    targets = run(["ninja", "-C", build, "-t", "targets", "all"])
    steps = [line for line in targets.splitlines()
             if line.split(":")[0].endswith((".o", ".a", ".so")) and "consumer" not in line]
    if steps:
        raise Failure("babelbird adds build steps to a parent's build:\n" + "\n".join(steps[:10]))


def case_version_too_new(tmp):
    """(e) find_package(babelbird 1.0) must fail: 0.1.0 is not SameMajorVersion-compatible."""
    prefix = cmake_install(tmp)
    project = consumer_project(tmp, find_installed("1.0"))
    text = configure(project, f"-DCMAKE_PREFIX_PATH={prefix}", expect_failure=True)
    if "0.1.0" not in text or "1.0" not in text:
        raise Failure(f"the failure does not name the versions:\n{text[-2000:]}")


def case_curl_component(tmp):
    """(f) COMPONENTS curl: babelbird::curl exists, links, and a TU using the
    libcurl adapter compiles and runs."""
    prefix = cmake_install(tmp)
    project = consumer_project(tmp, find_installed(components="curl"), link="babelbird::curl", curl=True)
    configure(project, f"-DCMAKE_PREFIX_PATH={prefix}")
    build_and_run(project, curl=True)


def case_redis_absent(tmp):
    """(f) hiredis missing (simulated with CMAKE_DISABLE_FIND_PACKAGE_hiredis):
    COMPONENTS redis fails with a message naming hiredis, and without
    components babelbird::redis is simply absent while the core still works
    (configure only; nothing is compiled)."""
    prefix = cmake_install(tmp)
    no_redis = ["-DCMAKE_DISABLE_FIND_PACKAGE_hiredis=ON", f"-DCMAKE_PREFIX_PATH={prefix}"]
    project = consumer_project(tmp, find_installed(components="redis"), link="babelbird::redis")
    text = configure(project, *no_redis, expect_failure=True)
    if "babelbird::redis needs hiredis" not in text:
        raise Failure(f"the failure does not say that hiredis is missing:\n{text[-2000:]}")
    shutil.rmtree(project)
    extra = """if(TARGET babelbird::redis)
  message(FATAL_ERROR "babelbird::redis exists without hiredis")
endif()
if(NOT TARGET babelbird::babelbird)
  message(FATAL_ERROR "babelbird::babelbird is missing")
endif()"""
    project = consumer_project(tmp, find_installed(), extra=extra)
    configure(project, *no_redis)
    # And with hiredis present (Debian: libhiredis-dev), the same request succeeds.
    if subprocess.run(["pkg-config", "--exists", "hiredis"]).returncode == 0:
        shutil.rmtree(project)
        project = consumer_project(tmp, find_installed(components="redis"), link="babelbird::redis")
        configure(project, f"-DCMAKE_PREFIX_PATH={prefix}")


def case_versions_agree(tmp):
    """meson.build, CMakeLists.txt and version.hpp carry the same version."""
    meson = re.search(r"version:\s*'([0-9.]+)'", (ROOT / "meson.build").read_text()).group(1)
    cmake = re.search(r"VERSION\s+([0-9.]+)", (ROOT / "CMakeLists.txt").read_text().split("project(", 1)[1]).group(1)
    header = (ROOT / "include" / "babelbird" / "config" / "version.hpp").read_text()
    parts = [re.search(rf"BABELBIRD_VERSION_{p}\s+(\d+)", header).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    versions = {"meson.build": meson, "CMakeLists.txt": cmake, "version.hpp": ".".join(parts)}
    if len(set(versions.values())) != 1:
        raise Failure(f"versions differ: {versions}")


def case_cxx20_check_first(tmp):
    """Every header (all but config/compiler_check.hpp) includes config/compiler_check.hpp as
    its first include, so that each of them, included alone below C++20, stops
    with babelbird's own message (tests/compile_fail/below_cxx20.cpp checks the
    message)."""
    include = ROOT / "include"
    wrong = []
    for header in sorted(include.glob("babelbird/**/*.hpp")):
        rel = header.relative_to(include).as_posix()
        if rel == "babelbird/config/compiler_check.hpp":
            continue
        includes = re.findall(r"^\s*#\s*include\s*[<\"]([^>\"]+)[>\"]", header.read_text(), re.M)
        if not includes or includes[0] != "babelbird/config/compiler_check.hpp":
            wrong.append(f"{rel} (first include: {includes[0] if includes else 'none'})")
    if wrong:
        raise Failure("the first include must be \"babelbird/config/compiler_check.hpp\" in: " + ", ".join(wrong))


CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--case", choices=sorted(CASES))
    args = parser.parse_args()
    if args.list:
        print("\n".join(sorted(CASES)))
        return 0
    if not args.case:
        parser.error("--case or --list")
    with tempfile.TemporaryDirectory(prefix="babelbird-packaging-") as tmp:
        try:
            CASES[args.case](pathlib.Path(tmp))
        except Failure as failure:
            print(f"FAIL {args.case}: {failure}")
            print("0 passed, 1 failed")
            return 1
    print(f"ok {args.case}")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
