#!/usr/bin/env python3
"""Build babelbird-bench, measure it, and regenerate the tables in bench/README.md.

    bench/report.py                    build, time, count instructions, time compiles
    bench/report.py --quick            fewer repetitions (for a smoke run)
    bench/report.py --filter REGEX     only the matching cases (README not rewritten)
    bench/report.py --no-compile-time  skip the compile-time measurement
    bench/report.py --token-source-only  only the read-path benchmark (its README block)

What it measures:
  * ns/op: Google Benchmark, `--benchmark_repetitions` runs pinned to one core
    with `taskset`, the median of the repetitions' CPU time per iteration;
  * allocs/op: the benchmark's own counter (replacement operator new and malloc
    family), one op after a warm-up op;
  * instructions/op: `valgrind --tool=callgrind` on `--instructions=CASE
    --iterations=N` for two values of N; the difference divided by the
    difference of N is the exact cost of one op (start-up, the self-test-free
    setup and the warm-up cancel out). Exact and repeatable on a noisy machine,
    so the goals are judged on it;
  * compile time: the wall time of `c++ -std=c++20 -O2 -c` on four one-line
    translation units, median of several runs, for g++ and clang++;
  * the read path (babelbird-bench-token-source): get() of token_source and of
    the caches it is measured against, at 1 and 2 threads in one run, not
    pinned (the 2-thread cases need both cores): CPU ns per get() and
    allocations per get() at 1 thread, throughput (gets per second of real
    time, all threads together) at 1 and 2 threads. Medians of the repetitions.

Everything goes between the `<!-- generated:... -->` markers in bench/README.md;
the prose outside them is kept.
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build-bench"
BENCH = BUILD / "bench" / "babelbird-bench"
TOKEN_BENCH = BUILD / "bench" / "babelbird-bench-token-source"
README = ROOT / "bench" / "README.md"
LOW, HIGH = 200, 1200  # iterations of the two callgrind runs


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, **kw)


def setup():
    if not (BUILD / "build.ninja").exists():
        run(["meson", "setup", str(BUILD), "-Dbench=true", "-Dbuildtype=release",
             "-Dcli=disabled"], cwd=ROOT)


def build():
    setup()
    run(["ninja", "-C", str(BUILD), "-j2", "bench/babelbird-bench",
         "bench/babelbird-bench-token-source"], cwd=ROOT)


def cases(pattern):
    names = run([str(BENCH), "--list"], capture_output=True).stdout.split()
    return [n for n in names if re.search(pattern, n)]


def time_cases(pattern, repetitions, min_time):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [str(BENCH), f"--benchmark_filter={pattern}",
               f"--benchmark_repetitions={repetitions}",
               "--benchmark_report_aggregates_only=true",
               f"--benchmark_min_time={min_time}",
               f"--benchmark_out={out.name}", "--benchmark_out_format=json"]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", "1"] + cmd
        run(cmd, stdout=subprocess.DEVNULL)
        data = json.load(open(out.name))
    result = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
        result[b["run_name"]] = {"ns": b["cpu_time"] * scale, "allocs": b.get("allocs", 0.0)}
    return result


def callgrind_total(name, iterations):
    with tempfile.TemporaryDirectory() as d:
        p = run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/cg.out",
                 str(BENCH), f"--instructions={name}", f"--iterations={iterations}"],
                capture_output=True)
        m = re.search(r"Collected : (\d+)", p.stderr)
        if not m:
            raise RuntimeError(f"callgrind gave no total for {name}:\n{p.stderr}")
        return int(m.group(1))


def instructions(name):
    low = callgrind_total(name, LOW)
    high = callgrind_total(name, HIGH)
    return (high - low) / (HIGH - LOW)


def count_instructions(names, jobs):
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip(names, pool.map(instructions, names)))


# label -> (the translation unit, extra compiler arguments)
COMPILE_UNITS = {
    "babelbird/babelbird.hpp (umbrella)": ("#include <babelbird/babelbird.hpp>\n", []),
    "babelbird/requests/token_requests.hpp (request building)": ("#include <babelbird/requests/token_requests.hpp>\n", []),
    "<simdjson.h> alone": ("#include <simdjson.h>\n", []),
    "<string> alone": ("#include <string>\n", []),
    "umbrella, BABELBIRD_SEPARATE_COMPILATION": (
        "#include <babelbird/babelbird.hpp>\n", ["-DBABELBIRD_SEPARATE_COMPILATION"]),
    "babelbird/src.hpp (the one separate TU)": (
        "#include <babelbird/src.hpp>\n", ["-DBABELBIRD_SEPARATE_COMPILATION"]),
}


def compile_times(runs):
    """Median CPU seconds (user + sys of the compiler) per translation unit:
    unlike wall time, it hardly moves when the other core is busy."""
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for compiler in ["g++", "clang++"]:
            if not shutil.which(compiler):
                continue
            for label, (text, extra) in COMPILE_UNITS.items():
                src = pathlib.Path(d) / "tu.cpp"
                src.write_text(text)
                cmd = [compiler, "-std=c++20", "-O2", *extra, "-I", str(ROOT / "include"), "-c",
                       str(src), "-o", str(pathlib.Path(d) / "tu.o")]
                run(cmd)  # warm the file cache
                samples = []
                for _ in range(runs):
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    run(cmd)
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    samples.append((after.ru_utime - before.ru_utime) +
                                   (after.ru_stime - before.ru_stime))
                results[(compiler, label)] = statistics.median(samples)
    return results


def split(name):
    op, inp, impl = name.split("/")
    return op, inp, impl


def fmt_ratio(x):
    return "" if x is None else f"{x:.2f}\u00d7"


def table(timed, instr):
    lines = ["| case | ns/op (median) | \u00d7 babelbird (ns) | allocs/op | instructions/op | \u00d7 babelbird (instr) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in instr:
        op, inp, impl = split(name)
        base = f"{op}/{inp}/babelbird"
        t = timed.get(name)
        bt = timed.get(base)
        ns = f"{t['ns']:.0f}" if t else ""
        rn = fmt_ratio(t["ns"] / bt["ns"]) if t and bt else ""
        allocs = f"{t['allocs']:g}" if t else ""
        ir = instr[name]
        ri = fmt_ratio(ir / instr[base]) if base in instr else ""
        lines.append(f"| `{name}` | {ns} | {rn} | {allocs} | {ir:.0f} | {ri} |")
    return "\n".join(lines)


def goals(timed, instr, compile):
    rows = []

    def ratio(a, b):
        return instr[a] / instr[b]

    def add(goal, ok, figure):
        rows.append(f"| {goal} | {'met' if ok else '**missed**'} | {figure} |")

    p = "parse/typical/"
    if all(p + i in instr for i in ["babelbird", "simdjson_ondemand", "nlohmann", "rapidjson",
                                    "boost_json_reused"]):
        r = ratio(p + "babelbird", p + "simdjson_ondemand")
        add("parse \u2264 1.0\u00d7 direct simdjson (instructions)", r <= 1.0, f"{r:.3f}\u00d7")
        for peer, want in [("nlohmann", 8.0), ("rapidjson", 2.5), ("boost_json_reused", 1.5)]:
            r = ratio(p + peer, p + "babelbird")
            add(f"parse \u2265 {want}\u00d7 fewer instructions than {peer}", r >= want, f"{r:.2f}\u00d7")
    allocs = {n: v["allocs"] for n, v in timed.items()}
    if p + "babelbird" in allocs:
        a = allocs[p + "babelbird"]
        add("parse: \u2264 1 allocation per successful parse", a <= 1, f"{a:g}")
    errs = [n for n in allocs if n.startswith("parse_error/")]
    if errs:
        worst = max(allocs[n] for n in errs)
        add("parse: 0 allocations on error paths without server text", worst == 0,
            ", ".join(f"{n.split('/')[1]} {allocs[n]:g}" for n in errs))
    for inp in ["typical", "extra", "jwt"]:
        b, pc, rr = f"basic/{inp}/babelbird", f"percent/{inp}/babelbird", f"refresh_request/{inp}/babelbird"
        if b in allocs and pc in allocs:
            add(f"Basic header / percent string ({inp}): \u2264 1 allocation each",
                allocs[b] <= 1 and allocs[pc] <= 1, f"{allocs[b]:g} / {allocs[pc]:g}")
        if rr in allocs:
            # method (SSO), URL, header vector, Basic value, "application/json".
            add(f"refresh request ({inp}): \u2264 1 allocation per produced string", allocs[rr] <= 4,
                f"{allocs[rr]:g} (URL, Basic value, header vector, Accept value)")
        pb = f"percent/{inp}/babelbird"
        for peer, want in [("boost_url", 2.0), ("curl", 7.0)]:
            pp = f"percent/{inp}/{peer}"
            if pb in instr and pp in instr:
                r = ratio(pp, pb)
                tr = (timed[pp]["ns"] / timed[pb]["ns"]) if pp in timed and pb in timed else None
                add(f"percent ({inp}) \u2265 {want}\u00d7 faster than {peer}", r >= want,
                    f"{r:.2f}\u00d7 instructions" + (f", {tr:.2f}\u00d7 ns" if tr else ""))
        bt = f"basic/{inp}/table"
        if b in instr and bt in instr:
            r = ratio(b, bt)
            add(f"Basic ({inp}) no slower than a table encoder", r <= 1.0, f"{r:.2f}\u00d7 its instructions")
    for compiler in ["g++", "clang++"]:
        keys = [(compiler, k) for k in COMPILE_UNITS]
        if all(k in compile for k in keys):
            um, rq, sj, st = (compile[k] for k in keys[:4])
            add(f"compile ({compiler}): umbrella \u2264 1.1\u00d7 `<simdjson.h>`", um <= 1.1 * sj,
                f"{um / sj:.2f}\u00d7")
            add(f"compile ({compiler}): requests/token_requests.hpp \u2264 2\u00d7 `<string>`", rq <= 2 * st,
                f"{rq / st:.2f}\u00d7")
    return "\n".join(["| goal | status | figure |", "|---|---|---|"] + rows)


def compile_table(compile):
    lines = ["| translation unit | g++ 12 (CPU s) | clang++ 14 (CPU s) |", "|---|---:|---:|"]
    for label in COMPILE_UNITS:
        g = compile.get(("g++", label))
        c = compile.get(("clang++", label))
        lines.append(f"| {label} | {g:.3f} | {c:.3f} |" if c is not None else f"| {label} | {g:.3f} | |")
    return "\n".join(lines)


# The read path (bench/token_source_bench.cpp): case -> what it is.
READ_CASES = {
    "mutex_cache": "`std::mutex` cache",
    "shared_mutex_cache": "`std::shared_mutex` cache",
    "mutex_cache_bound_clock": "`std::mutex` cache, cheap clock bound",
    "snapshot_cell_cache": "snapshot_cell cache (the read path to integrate)",
    "token_source": "`token_source::get()` (this tree)",
}
READ_CLOCKS = {
    "now": "`system_clock_source::now()` (`CLOCK_REALTIME`)",
    "realtime_coarse": "`clock_gettime(CLOCK_REALTIME_COARSE)`",
    "now_upper_bound": "`system_clock_source::now_upper_bound()`",
}
READ_GOAL_RATIO, READ_GOAL_SCALING = 0.5, 1.8


def time_read_path(repetitions, min_time):
    """Runs babelbird-bench-token-source once; returns {run name: median row}."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        run([str(TOKEN_BENCH), f"--benchmark_repetitions={repetitions}",
             "--benchmark_report_aggregates_only=true", f"--benchmark_min_time={min_time}",
             f"--benchmark_out={out.name}", "--benchmark_out_format=json"],
            stdout=subprocess.DEVNULL)
        data = json.load(open(out.name))
    result = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
        result[b["run_name"]] = {"cpu_ns": b["cpu_time"] * scale,
                                 "items_per_second": b.get("items_per_second", 0.0),
                                 "allocs": b.get("allocs")}
    load = data.get("context", {}).get("load_avg", [])
    return result, load


def read_row(results, case, threads):
    return results.get(f"get/{case}/real_time/threads:{threads}")


def read_path_tables(results, load, repetitions):
    """The read-path block of bench/README.md: clocks, caches, goals."""
    lines = [f"{os.uname().machine}, {os.cpu_count()} cores, {repetitions} repetitions, "
             f"load average at the start {', '.join(f'{x:.2f}' for x in load) or 'unknown'}",
             "", "| clock reading | ns (CPU, median) |", "|---|---:|"]
    for name, label in READ_CLOCKS.items():
        r = results.get(f"clock/{name}")
        if r:
            lines.append(f"| {label} | {r['cpu_ns']:.1f} |")
    lines += ["", "| get() on a valid token | ns/get, 1 thread (CPU) | \u00d7 mutex cache "
              "| Mget/s, 1 thread | Mget/s, 2 threads | 2 threads / 1 thread | allocs/get |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    base = read_row(results, "mutex_cache", 1)
    ratios = {}
    for case, label in READ_CASES.items():
        one, two = read_row(results, case, 1), read_row(results, case, 2)
        if not one:
            continue
        rel = one["cpu_ns"] / base["cpu_ns"] if base else None
        scaling = (two["items_per_second"] / one["items_per_second"]
                   if two and one["items_per_second"] else None)
        ratios[case] = (rel, scaling, one["allocs"])
        allocs = "" if one["allocs"] is None else f"{one['allocs']:g}"
        per_second_2 = f"{two['items_per_second'] / 1e6:.1f}" if two else ""
        lines.append(f"| {label} | {one['cpu_ns']:.1f} | {fmt_ratio(rel)} "
                     f"| {one['items_per_second'] / 1e6:.1f} | {per_second_2} "
                     f"| {fmt_ratio(scaling)} | {allocs} |")
    lines += ["", "| goal | status | figure |", "|---|---|---|"]
    none = (None, None, None)
    mutex_scaling = ratios.get("mutex_cache", none)[1]
    shared_scaling = ratios.get("shared_mutex_cache", none)[1]
    for case in ["token_source", "snapshot_cell_cache"]:
        if case not in ratios:
            continue
        rel, scaling, allocs = ratios[case]
        name = "`token_source::get()`" if case == "token_source" else "snapshot_cell cache"

        def add(goal, ok, figure):
            lines.append(f"| {goal} | {'met' if ok else '**missed**'} | {figure} |")

        if rel is not None:
            add(f"{name}: 1 thread \u2264 {READ_GOAL_RATIO}\u00d7 the mutex cache's time",
                rel <= READ_GOAL_RATIO, f"{rel:.2f}\u00d7")
        if scaling is not None:
            add(f"{name}: 2-thread throughput \u2265 {READ_GOAL_SCALING}\u00d7 1-thread",
                scaling >= READ_GOAL_SCALING,
                f"{scaling:.2f}\u00d7 (mutex cache {fmt_ratio(mutex_scaling)}, "
                f"shared_mutex cache {fmt_ratio(shared_scaling)})")
        if allocs is not None:
            add(f"{name}: 0 allocations per get()", allocs == 0, f"{allocs:g}")
    return "\n".join(lines)


def replace_block(text, tag, body):
    begin, end = f"<!-- generated:{tag} -->", f"<!-- /generated:{tag} -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README has no {begin} block")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter", default=".")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-compile-time", action="store_true")
    ap.add_argument("--compile-time-only", action="store_true",
                    help="measure and rewrite only the compile-time table (no build, no runs)")
    ap.add_argument("--token-source-only", action="store_true",
                    help="run only babelbird-bench-token-source and rewrite its README block")
    ap.add_argument("--jobs", type=int, default=2, help="parallel callgrind runs")
    args = ap.parse_args()

    if args.token_source_only:
        setup()
        run(["ninja", "-C", str(BUILD), "-j2", "bench/babelbird-bench-token-source"], cwd=ROOT)
        reps = 3 if args.quick else 9
        results, load = time_read_path(reps, 0.05 if args.quick else 0.2)
        body = read_path_tables(results, load, reps)
        print(body)
        README.write_text(replace_block(README.read_text(), "read_path", body))
        return
    if args.compile_time_only:
        compile = compile_times(5)
        print(compile_table(compile))
        README.write_text(replace_block(README.read_text(), "compile", compile_table(compile)))
        return
    build()
    names = cases(args.filter)
    reps = 3 if args.quick else 9
    timed = time_cases(args.filter, reps, 0.05 if args.quick else 0.2)
    instr = count_instructions(names, args.jobs)
    compile = {} if args.no_compile_time else compile_times(3 if args.quick else 7)
    read_path = None
    if args.filter == "." and TOKEN_BENCH.exists():
        results, load = time_read_path(reps, 0.05 if args.quick else 0.2)
        read_path = read_path_tables(results, load, reps)

    tbl = table(timed, instr)
    gl = goals(timed, instr, compile)
    print(tbl)
    print()
    print(gl)
    if compile:
        print()
        print(compile_table(compile))
    if read_path:
        print()
        print(read_path)
    if args.filter != "." or args.no_compile_time:
        return
    env = (f"{os.uname().machine}, {run(['c++', '--version'], capture_output=True).stdout.splitlines()[0]}, "
           f"{reps} repetitions, callgrind N={LOW}/{HIGH}")
    text = README.read_text()
    text = replace_block(text, "env", env)
    text = replace_block(text, "table", tbl)
    text = replace_block(text, "goals", gl)
    text = replace_block(text, "compile", compile_table(compile))
    if read_path:
        text = replace_block(text, "read_path", read_path)
    README.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
