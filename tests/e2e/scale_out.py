#!/usr/bin/env python3
"""Scale-out tests of `babelbird-cli call --store redis://...` (issue 13).

Each case starts its own redis-server (a free loopback port, a temporary
directory) and its own `babelbird-cli serve-fake` (strict rotation: a reused
refresh token is invalid_grant and revokes its family), then runs N CLI
processes in parallel loops. Access tokens expire by the server's clock
(POST /_fake/advance), never by sleeping: the next call of each process gets
a 401, and the protocol must let exactly one process refresh per expiry while
the others adopt its grant from Redis.

Checked from the server's redemption log (token fingerprints only): one
rotation per expiry (plus the first one, which seeds the store), no refresh
token presented twice, each presented token the one issued just before; and
at the end the store's refresh token is the server's latest.

Usage: scale_out.py --cli PATH [--redis-server PATH] (--case NAME | --list | --all)
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLIENT_ID = "scale-client"
CLIENT_SECRET = "scale-secret-Zq9"
SEED = "rt-seed-scale-out"
GRANT_NAME = "scale"
LIFETIME = 3600  # the server's access-token lifetime; each expiry advances past it


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


def fingerprint(token: bytes) -> str:
    """fake_server.hpp's token_fingerprint: 64-bit FNV-1a, 16 hex digits."""
    h = 14695981039346656037
    for b in token:
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a minimal Redis client (RESP2) -----------------------------------------


class Redis:
    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis error: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad RESP reply")

    def __call__(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()


def decode_grant(encoded: bytes):
    """The netstrings of encoding/grant_codec.hpp (access, refresh, ...)."""
    check(encoded.startswith(b"bbgrant1;"), "the stored grant has the bbgrant1 tag")
    rest = encoded[len(b"bbgrant1;"):]
    fields = []
    while rest:
        colon = rest.index(b":")
        n = int(rest[:colon])
        fields.append(rest[colon + 1:colon + 1 + n])
        check(rest[colon + 1 + n:colon + 2 + n] == b",", "a netstring ends with ','")
        rest = rest[colon + 2 + n:]
    check(len(fields) == 10, "ten netstrings in a stored grant")
    return fields


class RedisServer:
    def __init__(self, binary, persist=False):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="bb-scale-redis-")
        self.persist = persist
        self.port = None
        self.proc = None

    def start(self, port=None):
        for _ in range(8):
            self.port = port or free_port()
            args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                    "--dir", self.dir, "--save", "", "--daemonize", "no",
                    "--logfile", os.path.join(self.dir, "redis.log")]
            if self.persist:
                args += ["--appendonly", "yes", "--appendfsync", "always"]
            else:
                args += ["--appendonly", "no"]
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.time() + 10
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    r = Redis(self.port, timeout=1)
                    ok = r("PING") == "PONG"
                    r.close()
                    if ok:
                        return self
                except OSError:
                    time.sleep(0.05)
            self.proc.kill()
            self.proc.wait()
            if port:
                break
        raise Failure("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self):
        return Redis(self.port)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class FakeServer:
    def __init__(self, cli):
        env = dict(os.environ, BABELBIRD_CLIENT_ID=CLIENT_ID,
                   BABELBIRD_CLIENT_SECRET=CLIENT_SECRET, BABELBIRD_REFRESH_TOKEN=SEED)
        self.proc = subprocess.Popen(
            [cli, "serve-fake", "--access-token-lifetime", str(LIFETIME),
             "--revoke-family-on-reuse"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline()
        check(line, "serve-fake printed its address")
        self.base_url = json.loads(line)["base_url"]

    def control(self, what, method="POST", **query):
        url = self.base_url + "/_fake/" + what
        if query:
            url += "?" + "&".join("%s=%s" % kv for kv in query.items())
        req = urllib.request.Request(url, data=b"" if method == "POST" else None,
                                     method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def redemptions(self):
        return self.control("redemptions", method="GET")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def store_url(redis):
    return "redis://127.0.0.1:%d/%s" % (redis.port, GRANT_NAME)


def run_call(cli, server, redis_port, timeout="5"):
    env = dict(os.environ, BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=CLIENT_SECRET,
               BABELBIRD_REFRESH_TOKEN=SEED)
    env.pop("BABELBIRD_REDIS_PASSWORD", None)
    return subprocess.Popen(
        [cli, "call", "GET", "/api/v1/file/list", "--base-url", server.base_url,
         "--store", "redis://127.0.0.1:%d/%s" % (redis_port, GRANT_NAME), "--timeout", timeout],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


class Workers:
    """N threads, each running `call` in a loop until stopped."""

    def __init__(self, cli, server, redis, n, timeout="5"):
        self.cli, self.server, self.redis, self.n, self.timeout = cli, server, redis, n, timeout
        self.lock = threading.Condition()
        self.epoch = 0
        self.done_in_epoch = [0] * n  # successful calls started in the current epoch
        self.results = []  # (worker, epoch, status, stderr)
        self.procs = {}
        self.stopping = False
        self.threads = [threading.Thread(target=self.loop, args=(i,)) for i in range(n)]

    def loop(self, i):
        while True:
            with self.lock:
                if self.stopping:
                    return
                epoch = self.epoch
            p = run_call(self.cli, self.server, self.redis.port, self.timeout)
            with self.lock:
                self.procs[i] = p
            out, err = p.communicate()
            with self.lock:
                self.procs.pop(i, None)
                self.results.append((i, epoch, p.returncode, err.decode(errors="replace")))
                if p.returncode == 0 and b'"files"' not in out:
                    self.results[-1] = (i, epoch, -1, "exit 0 without the file list")
                elif p.returncode == 0:
                    if epoch == self.epoch:
                        self.done_in_epoch[i] += 1
                self.lock.notify_all()

    def start(self):
        for t in self.threads:
            t.start()

    def wait_all_called(self, timeout=60):
        """Until every worker finished a successful call started in this epoch."""
        deadline = time.time() + timeout
        with self.lock:
            while not all(self.done_in_epoch):
                bad = [r for r in self.results if r[2] != 0]
                if bad:
                    raise Failure("epoch %d: a call failed (worker %d, exit %d): %s" % (
                        self.epoch, bad[0][0], bad[0][2], bad[0][3].strip()))
                left = deadline - time.time()
                if left <= 0:
                    raise Failure("epoch %d: workers %s made no successful call" % (
                        self.epoch, [i for i, d in enumerate(self.done_in_epoch) if not d]))
                self.lock.wait(left)

    def next_epoch(self):
        with self.lock:
            self.server.control("advance", seconds=LIFETIME + 1)
            self.epoch += 1
            self.done_in_epoch = [0] * self.n

    def stop(self):
        with self.lock:
            self.stopping = True
        for t in self.threads:
            t.join()

    def failures(self):
        return [r for r in self.results if r[2] != 0]


def check_chain(log, expected_rotations, what):
    """One rotation per expiry, each presenting the token issued just before."""
    entries = log["redemptions"]
    outcomes = {}
    for e in entries:
        outcomes[e["outcome"]] = outcomes.get(e["outcome"], 0) + 1
    presented = [e["presented"] for e in entries]
    rotated = [e for e in entries if e["outcome"] == "rotated"]
    print("  %s: %d refresh requests %s" % (what, len(entries), outcomes))
    check(len(presented) == len(set(presented)), what + ": no refresh token presented twice")
    check(len(rotated) == expected_rotations,
          "%s: %d rotations, expected %d (one per expiry and the first)" % (
              what, len(rotated), expected_rotations))
    check(len(entries) == len(rotated), what + ": every refresh request rotated the token")
    for before, after in zip(rotated, rotated[1:]):
        check(after["presented"] == before["issued"],
              what + ": each refresh presents the token issued just before")
    return rotated


def store_record(redis):
    r = redis.client()
    try:
        fields = r("HGETALL", "bb:{%s}:rec" % GRANT_NAME)
    finally:
        r.close()
    rec = {fields[i].decode(): fields[i + 1] for i in range(0, len(fields or []), 2)}
    return rec


def check_store_latest(redis, server, what):
    rec = store_record(redis)
    check(rec.get("state") == b"active", what + ": the record is active")
    grant = decode_grant(rec["grant"])
    latest = server.redemptions()["latest_refresh"]
    check(fingerprint(grant[1]) == latest,
          what + ": the store's refresh token is the server's latest")
    return int(rec["gen"])


# --- cases ---------------------------------------------------------------------

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def scale(ctx, n, expiries):
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli)
    workers = Workers(ctx.cli, server, redis, n)
    started = time.time()
    try:
        workers.start()
        workers.wait_all_called()
        for _ in range(expiries):
            workers.next_epoch()
            workers.wait_all_called()
        workers.stop()
        elapsed = time.time() - started
        failures = workers.failures()
        for f in failures[:5]:
            print("  worker %d epoch %d exit %d: %s" % (f[0], f[1], f[2], f[3].strip()))
        check(not failures, "%d of %d calls failed" % (len(failures), len(workers.results)))
        log = server.redemptions()
        check_chain(log, expiries + 1, "N=%d" % n)
        gen = check_store_latest(redis, server, "N=%d" % n)
        print("  N=%d processes, %d expiries, %d calls, all exit 0, %d refreshes, store gen %d, "
              "%.1f s" % (n, expiries, len(workers.results), len(log["redemptions"]), gen,
                          elapsed))
    finally:
        workers.stopping = True
        server.stop()
        redis.cleanup()


@case
def n8(ctx):
    scale(ctx, 8, ctx.expiries or 30)


@case
def n32(ctx):
    scale(ctx, 32, ctx.expiries or 30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or
                        "/usr/bin/redis-server")
    parser.add_argument("--case")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--expiries", type=int, default=0, help="override (for quick runs)")
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    ctx = argparse.Namespace(cli=args.cli, redis_binary=args.redis_server,
                             expiries=args.expiries)
    names = list(CASES) if args.all else [args.case]
    status = 0
    for name in names:
        if name not in CASES:
            print("unknown case", name)
            return 2
        print("case", name)
        t = time.time()
        try:
            CASES[name](ctx)
            print("ok   %s (%.1f s)" % (name, time.time() - t))
        except Failure as e:
            print("FAIL %s: %s" % (name, e))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
