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
import urllib.error
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
    def __init__(self, binary, persist=False, extra=()):
        self.binary = binary
        self.extra = list(extra)  # more redis-server arguments
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
            args += self.extra
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.time() + 10
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    r = Redis(self.port, timeout=1)
                    try:
                        ok = r("PING") == "PONG"
                    except RuntimeError as e:  # up, with --requirepass
                        ok = "NOAUTH" in str(e)
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
    def __init__(self, cli, extra=()):
        env = dict(os.environ, BABELBIRD_CLIENT_ID=CLIENT_ID,
                   BABELBIRD_CLIENT_SECRET=CLIENT_SECRET, BABELBIRD_REFRESH_TOKEN=SEED)
        self.proc = subprocess.Popen(
            [cli, "serve-fake", "--access-token-lifetime", str(LIFETIME),
             "--revoke-family-on-reuse"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline()
        check(line, "serve-fake printed its address")
        self.base_url = json.loads(line)["base_url"]

    def control(self, what, method="POST", body=b"", **query):
        url = self.base_url + "/_fake/" + what
        if query:
            url += "?" + "&".join("%s=%s" % kv for kv in query.items())
        req = urllib.request.Request(url, data=body if method == "POST" else None,
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


def run_call(cli, server, redis_port, timeout="5", extra=()):
    env = dict(os.environ, BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=CLIENT_SECRET,
               BABELBIRD_REFRESH_TOKEN=SEED)
    env.pop("BABELBIRD_REDIS_PASSWORD", None)
    return subprocess.Popen(
        [cli, "call", "GET", "/api/v1/file/list", "--base-url", server.base_url,
         "--store", "redis://127.0.0.1:%d/%s" % (redis_port, GRANT_NAME), "--timeout", timeout]
        + list(extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


class Workers:
    """N threads, each running `call` in a loop until stopped."""

    def __init__(self, cli, server, redis, n, timeout="5", extra=()):
        self.cli, self.server, self.redis, self.n, self.timeout = cli, server, redis, n, timeout
        self.extra = list(extra)  # more arguments of each call (--lease-ttl, ...)
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
            p = run_call(self.cli, self.server, self.redis.port, self.timeout, self.extra)
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

    def wait_all_called(self, timeout=60, allow_killed=False):
        """Until every worker finished a successful call started in this epoch
        (with allow_killed, a call that the test SIGKILLed is no failure)."""
        deadline = time.time() + timeout
        with self.lock:
            while not all(self.done_in_epoch):
                bad = [r for r in self.results
                       if r[2] != 0 and not (allow_killed and r[2] == -signal.SIGKILL)]
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

    def failures(self, allow_killed=False):
        return [r for r in self.results
                if r[2] != 0 and not (allow_killed and r[2] == -signal.SIGKILL)]


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


def run_once(ctx, server, redis_port, args=(), env_extra=None, store=None, timeout="5"):
    env = dict(os.environ, BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=CLIENT_SECRET,
               BABELBIRD_REFRESH_TOKEN=SEED)
    env.update(env_extra or {})
    store = store or "redis://127.0.0.1:%d/%s" % (redis_port, GRANT_NAME)
    cmd = list(args) or ["call", "GET", "/api/v1/file/list"]
    p = subprocess.run([ctx.cli] + cmd + ["--base-url", server.base_url, "--store", store,
                                          "--timeout", timeout],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def token_post(server, refresh_token):
    import base64
    import urllib.parse
    url = server.base_url + "/api/refreshToken.do?grant_type=refresh_token&refresh_token=" + \
        urllib.parse.quote(refresh_token, safe="")
    basic = base64.b64encode(("%s:%s" % (CLIENT_ID, CLIENT_SECRET)).encode()).decode()
    req = urllib.request.Request(url, data=b"", method="POST",
                                 headers={"Authorization": "Basic " + basic})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def file_list(server, access_token):
    req = urllib.request.Request(server.base_url + "/api/v1/file/list",
                                 headers={"Authorization": "Bearer " + access_token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@case
def fake_strict(ctx):
    """serve-fake's strict rotation, redemption log and delay fault, over HTTP."""
    server = FakeServer(ctx.cli)
    try:
        status, first = token_post(server, SEED)
        check(status == 200, "the seed refreshes")
        status, second = token_post(server, first["refresh_token"])
        check(status == 200, "the rotated token refreshes")
        check(file_list(server, second["access_token"]) == 200, "the new access token works")
        status, answer = token_post(server, first["refresh_token"])
        check(status == 400 and answer["error"] == "invalid_grant", "a reused token is refused")
        check(file_list(server, second["access_token"]) == 401,
              "a reuse revokes the family's access tokens")
        status, _ = token_post(server, second["refresh_token"])
        check(status == 400, "a reuse revokes the family's refresh tokens")
        status, _ = token_post(server, "rt-never-issued")
        check(status == 400, "an unknown token is refused")
        log = server.redemptions()
        outcomes = [(e["outcome"], e["family_revoked"]) for e in log["redemptions"]]
        check(outcomes == [("rotated", False), ("rotated", False), ("reused", True),
                           ("revoked", False), ("unknown", False)], "the log: %s" % outcomes)
        entries = log["redemptions"]
        check(entries[0]["presented"] == fingerprint(SEED.encode()), "fingerprints of tokens")
        check(entries[1]["presented"] == entries[0]["issued"] ==
              fingerprint(first["refresh_token"].encode()), "issued fingerprints")
        check(log["latest_refresh"] == fingerprint(second["refresh_token"].encode()),
              "the latest issued refresh token")
        text = json.dumps(log)
        for token in (SEED, first["refresh_token"], second["refresh_token"]):
            check(token not in text, "the log holds no token")
        # A held answer, and a shorter access-token lifetime.
        req = urllib.request.Request(server.base_url + "/_fake/refresh-token",
                                     data=b"rt-second-seed", method="POST")
        urllib.request.urlopen(req, timeout=10).read()
        server.control("access-lifetime", seconds=60)
        server.control("fault", kind="delay", ms=700)
        t = time.time()
        status, third = token_post(server, "rt-second-seed")
        held = time.time() - t
        check(status == 200 and held >= 0.6, "the delay fault holds the answer (%.2f s)" % held)
        check(third["expires_in"] == 60, "the access-token lifetime can be shortened")
        # The reuse grace: a retired token is accepted once more, then it is a reuse.
        server.control("strict", revoke_family=0)
        server.control("reuse-grace", ms=60000)
        status, fourth = token_post(server, third["refresh_token"])
        status2, fifth = token_post(server, third["refresh_token"])
        status3, _ = token_post(server, third["refresh_token"])
        grace = [e["outcome"] for e in server.redemptions()["redemptions"][-3:]]
        check((status, status2, status3) == (200, 200, 400) and
              grace == ["rotated", "grace", "reused"], "the grace: %s" % grace)
        check(fourth["refresh_token"] != fifth["refresh_token"] and
              token_post(server, fourth["refresh_token"])[0] == 200 and
              token_post(server, fifth["refresh_token"])[0] == 200,
              "both descendants of a grace redemption stay valid")
        print("  fake_strict: rotated, rotated, reused (family revoked), revoked, unknown; "
              "held %.2f s; grace: %s" % (held, grace))
    finally:
        server.stop()


@case
def contract(ctx):
    """Exit codes and secrets of --store redis:// (the CLI contract)."""
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli)
    try:
        # A password in the URL: usage, and not echoed.
        status, out, err = run_once(ctx, server, redis.port,
                                    store="redis://:hunter2@127.0.0.1:%d/x" % redis.port)
        check(status == 2 and "hunter2" not in err and "BABELBIRD_REDIS_PASSWORD" in err,
              "a password in the URL is a usage error that does not echo it: " + err)
        status, _, err = run_once(ctx, server, redis.port, store="redis://127.0.0.1/x")
        check(status == 2, "a URL without a port is a usage error")
        # Redis down: retry (4), nothing sent to the server.
        status, _, err = run_once(ctx, server, free_port())
        check(status == 4, "an unreachable Redis is exit 4, got %d: %s" % (status, err))
        check(not server.redemptions()["redemptions"], "nothing was sent with Redis down")
        # The empty store is seeded from the environment, then used.
        status, out, err = run_once(ctx, server, redis.port, args=["call", "GET",
                                                                    "/api/v1/file/list",
                                                                    "--verbose"])
        check(status == 0 and '"files"' in out, "the first call succeeds: " + err)
        rec = store_record(redis)
        grant = decode_grant(rec["grant"])
        for secret in (CLIENT_SECRET, SEED, grant[0].decode(), grant[1].decode()):
            check(secret not in err and secret not in out,
                  "--verbose prints no secret (%d bytes of stderr)" % len(err))
        check_store_latest(redis, server, "contract")
        # refresh: prints the new grant, which the store holds.
        status, out, err = run_once(ctx, server, redis.port, args=["refresh"])
        check(status == 0, "refresh --store redis:// succeeds: " + err)
        printed = json.loads(out)
        check(fingerprint(printed["refresh_token"].encode()) ==
              server.redemptions()["latest_refresh"], "refresh printed the server's latest")
        check_store_latest(redis, server, "contract refresh")
        # Another process keeps the lease past the lease wait (the larger of two
        # leases and --timeout plus a lease: 1.1 s here): retry (4), a message
        # that names the lease, nothing sent.
        before = len(server.redemptions()["redemptions"])
        r = redis.client()
        r("SET", "bb:{%s}:lease" % GRANT_NAME, "another-replica", "PX", "60000")
        r.close()
        server.control("advance", seconds=LIFETIME + 1)
        t = time.time()
        status, _, err = run_once(ctx, server, redis.port, timeout="1",
                                  args=["call", "GET", "/api/v1/file/list", "--lease-ttl", "100"])
        waited = time.time() - t
        check(status == 4 and "lease" in err and waited >= 1.0,
              "a lease held past the wait is exit 4 naming the lease, got %d after %.1f s: %s" %
              (status, waited, err))
        check(len(server.redemptions()["redemptions"]) == before,
              "nothing was sent while another held the lease")
        r = redis.client()
        r("DEL", "bb:{%s}:lease" % GRANT_NAME)
        r.close()
        # A dead record: reauthorize (3) without a network call.
        before = len(server.redemptions()["redemptions"])
        r = redis.client()
        r("HSET", "bb:{%s}:rec" % GRANT_NAME, "state", "dead")
        r.close()
        server.control("advance", seconds=LIFETIME + 1)
        status, _, err = run_once(ctx, server, redis.port)
        check(status == 3, "a dead record is exit 3, got %d: %s" % (status, err))
        check(len(server.redemptions()["redemptions"]) == before,
              "a dead record sends no refresh")
        # A key of another type (WRONGTYPE): unreadable, protocol (5), not a retry.
        r = redis.client()
        r("DEL", "bb:{%s}:rec" % GRANT_NAME)
        r("SET", "bb:{%s}:rec" % GRANT_NAME, "not a hash")
        r.close()
        status, _, err = run_once(ctx, server, redis.port)
        check(status == 5 and "cannot read" in err,
              "a record of another type is exit 5, got %d: %s" % (status, err))
        # Redis wants a password and none is set (NOAUTH): configuration (6),
        # like a wrong one; never a retry.
        locked = RedisServer(ctx.redis_binary, extra=["--requirepass", "hunter3"]).start()
        try:
            status, _, err = run_once(ctx, server, locked.port)
            check(status == 6 and "hunter3" not in err and "BABELBIRD_REDIS_PASSWORD" in err,
                  "no password for a Redis that wants one is exit 6, got %d: %s" % (status, err))
            status, _, err = run_once(ctx, server, locked.port,
                                      env_extra={"BABELBIRD_REDIS_PASSWORD": "wrong-pw"})
            check(status == 6 and "wrong-pw" not in err and "hunter3" not in err,
                  "a wrong password is exit 6, got %d: %s" % (status, err))
        finally:
            locked.cleanup()
        print("  contract: usage 2, Redis down 4, seed and refresh 0, lease held past the wait 4, "
              "dead 3, --verbose clean, wrong type 5, no or wrong password 6")
    finally:
        server.stop()
        redis.cleanup()


def lease_owner_pid(redis):
    r = redis.client()
    try:
        owner = r("GET", "bb:{%s}:lease" % GRANT_NAME)
    finally:
        r.close()
    if not owner:
        return None
    parts = owner.decode().split(":")
    return int(parts[2]) if len(parts) == 4 and parts[0] == "babelbird-cli" else None


def warm_up(workers, epochs):
    workers.start()
    workers.wait_all_called()
    for _ in range(epochs):
        workers.next_epoch()
        workers.wait_all_called()


@case
def kill_holder(ctx):
    """The refreshing process is SIGKILLed while the server holds its answer
    (after rotating): the new token is lost with it. The others must not
    loop: one presents the retired token once, the record is marked dead, and
    every process then exits 3 (reauthorize) without a network call."""
    n = 8
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli)
    workers = Workers(ctx.cli, server, redis, n, timeout="3")  # lease: 8 s
    try:
        warm_up(workers, 2)
        server.control("fault", kind="delay", ms=6000, after_rotation=1)
        before = len(server.redemptions()["redemptions"])
        with workers.lock:
            first_after_kill = len(workers.results)
        workers.next_epoch()
        deadline = time.time() + 20
        victim = None
        while time.time() < deadline and victim is None:
            log = server.redemptions()["redemptions"]
            if len(log) > before:
                victim = lease_owner_pid(redis)
            time.sleep(0.02)
        check(victim, "a process holds the lease while its refresh is held")
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        # Until every worker has exited 3 once after the kill.
        deadline = time.time() + 60
        while time.time() < deadline:
            with workers.lock:
                late = workers.results[first_after_kill:]
                seen3 = {r[0] for r in late if r[2] == 3}
            if len(seen3) >= n:
                break
            time.sleep(0.2)
        workers.stop()
        late = workers.results[first_after_kill:]
        statuses = {}
        for r in late:
            statuses[r[2]] = statuses.get(r[2], 0) + 1
        log = server.redemptions()["redemptions"][before:]
        outcomes = [e["outcome"] for e in log]
        print("  killed pid %d; after it: exits %s, in %.1f s; the server saw %s" % (
            victim, statuses, time.time() - killed_at, outcomes))
        check(outcomes[0] == "rotated", "the held refresh rotated the token")
        check(outcomes.count("reused") == 1,
              "exactly one process presented the retired token (one dead mark)")
        check(set(outcomes) <= {"rotated", "reused"}, "no other refresh")
        check(store_record(redis).get("state") == b"dead", "the record is marked dead")
        check(set(statuses) <= {0, 3, -9}, "every call after the kill exits 0 or 3")
        check(len({r[0] for r in late if r[2] == 3}) == n, "every process ends with exit 3")
    finally:
        workers.stopping = True
        server.stop()
        redis.cleanup()


@case
def redis_pause(ctx):
    """Redis pauses writes (CLIENT PAUSE WRITE) while a refresh is in flight, so
    the commit waits; shorter than --timeout, nothing is lost or repeated."""
    n = 8
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli)
    workers = Workers(ctx.cli, server, redis, n, timeout="5")
    try:
        warm_up(workers, 2)
        server.control("fault", kind="delay", ms=1000)
        before = len(server.redemptions()["redemptions"])
        workers.next_epoch()
        deadline = time.time() + 20
        while time.time() < deadline and lease_owner_pid(redis) is None:
            time.sleep(0.01)
        check(lease_owner_pid(redis), "a process holds the lease")
        r = redis.client()
        r("CLIENT", "PAUSE", "2500", "WRITE")
        r.close()
        paused = time.time()
        workers.wait_all_called()
        for _ in range(2):
            workers.next_epoch()
            workers.wait_all_called()
        workers.stop()
        check(not workers.failures(), "every call succeeds")
        check_chain(server.redemptions(), 2 + 2 + 1 + 1, "pause")
        check_store_latest(redis, server, "pause")
        print("  paused writes 2.5 s during a held refresh (%d refreshes after), all %d calls "
              "exit 0, resumed after %.1f s" % (
                  len(server.redemptions()["redemptions"]) - before, len(workers.results),
                  time.time() - paused))
    finally:
        workers.stopping = True
        server.stop()
        redis.cleanup()


@case
def commit_times_out(ctx):
    """Redis pauses writes longer than --timeout while the server's answer is
    held, so the commit of the rotated grant times out: `call` and `refresh`
    must not exit 0 with the new grant only in memory (the store still holds
    the retired token): exit 4, the new grant on stdout as a rescue copy."""
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli)
    try:
        status, _, err = run_once(ctx, server, redis.port)
        check(status == 0, "the first call seeds the store: " + err)
        for args in (["call", "GET", "/api/v1/file/list"], ["refresh"]):
            for attempt in range(3):
                server.control("advance", seconds=LIFETIME + 1)
                server.control("fault", kind="delay", ms=1500, after_rotation=1)
                before = len(server.redemptions()["redemptions"])

                def pause():
                    deadline = time.time() + 10
                    while time.time() < deadline and \
                            len(server.redemptions()["redemptions"]) == before:
                        time.sleep(0.01)
                    r = redis.client()
                    r("CLIENT", "PAUSE", "5000", "WRITE")
                    r.close()

                t = threading.Thread(target=pause)
                t.start()
                # --timeout 2: the answer (1.5 s) arrives; the commit (bounded by 2 s) does not.
                # The pause starts when the rotation is logged, before the 1.5 s hold, and
                # must outlast the hold and the commit's 2 s bound with a margin: a pause of
                # exactly 3.5 s ended as the bound expired and the commit landed 1 run in 8.
                status, out, err = run_once(ctx, server, redis.port, args=args, timeout="2")
                t.join()
                time.sleep(5.1)  # the pause ends
                latest = server.redemptions()["latest_refresh"]
                rec = store_record(redis)
                if status == 0 and fingerprint(decode_grant(rec["grant"])[1]) == latest:
                    print("  %s: the commit landed outside the pause (the pause came more than "
                          "1.5 s late on a loaded machine); again" % args[0])
                    continue
                break
            print("  %s: exit %d, %s" % (args[0], status, err.strip()))
            check(status == 4, args[0] + ": exit 4 when the store cannot take the new grant")
            rescued = json.loads(out[out.index('{"access_token"'):])
            check(fingerprint(rescued["refresh_token"].encode()) == latest,
                  args[0] + ": the rescue copy on stdout is the server's latest grant")
            check(fingerprint(decode_grant(rec["grant"])[1]) != latest,
                  "the store missed the new grant (the case tests what it meant to)")
            # As an operator would: seed an empty store with the rescued token.
            r = redis.client()
            r("DEL", "bb:{%s}:rec" % GRANT_NAME)
            r.close()
            env = {"BABELBIRD_REFRESH_TOKEN": rescued["refresh_token"]}
            status, _, err = run_once(ctx, server, redis.port, env_extra=env)
            check(status == 0, "the rescued grant still works: " + err)
    finally:
        server.stop()
        redis.cleanup()


@case
def redis_restart(ctx):
    """Redis (with an append-only file) restarts between rotations: calls made
    while it is down exit 4 (retry); after it is back the chain goes on."""
    n = 8
    redis = RedisServer(ctx.redis_binary, persist=True).start()
    server = FakeServer(ctx.cli)
    workers = Workers(ctx.cli, server, redis, n)
    try:
        warm_up(workers, 3)
        with workers.lock:
            redis.stop()
            down_at = len(workers.results)
        time.sleep(0.5)  # calls run against the stopped Redis meanwhile
        with workers.lock:
            redis.start(port=redis.port)
            up_at = len(workers.results)
        during = workers.results[down_at:up_at]
        # Calls that were running when Redis stopped may fail; later ones must not.
        with workers.lock:
            workers.done_in_epoch = [0] * n
        for _ in range(3):
            workers.next_epoch()
            deadline = time.time() + 60
            with workers.lock:
                while not all(workers.done_in_epoch) and time.time() < deadline:
                    workers.lock.wait(1)
        workers.stop()
        statuses = {}
        for r in during:
            statuses[r[2]] = statuses.get(r[2], 0) + 1
        after = workers.results[up_at + n:]  # past the calls in flight at the restart
        bad = [r for r in after if r[2] != 0]
        print("  while Redis was down: exits %s; after: %d calls, %d failed" % (
            statuses, len(after), len(bad)))
        check(set(statuses) <= {0, 4}, "calls while Redis is down exit 0 or 4")
        check(not bad, "every call after the restart succeeds: %s" % (bad[:1],))
        check_chain(server.redemptions(), 3 + 3 + 1, "restart")
        check_store_latest(redis, server, "restart")
    finally:
        workers.stopping = True
        server.stop()
        redis.cleanup()


def refresh_requests(server):
    """How many requests reached the refresh endpoint (recorded on arrival,
    before any fault holds them)."""
    return sum(1 for r in server.control("requests", method="GET")
               if r["path"].endswith("/refreshToken.do"))


def outcomes_of(entries):
    counts = {}
    for e in entries:
        counts[e["outcome"]] = counts.get(e["outcome"], 0) + 1
    return counts


def check_no_double_success(entries, what):
    """No refresh token was accepted twice (rotated/kept/grace)."""
    accepted = [e["presented"] for e in entries if e["outcome"] in ("rotated", "kept", "grace")]
    check(len(accepted) == len(set(accepted)), what + ": no token presented twice succeeded")


def store_fingerprint(redis):
    return fingerprint(decode_grant(store_record(redis)["grant"])[1])


def redis_list(redis, key):
    r = redis.client()
    try:
        return r("LRANGE", key, 0, -1) or []
    finally:
        r.close()


@case
def kill_before_send(ctx):
    """The refreshing process is SIGKILLed while the server holds its request
    BEFORE checking the token: nothing was rotated. Its lease expires, another
    process refreshes with the same token; when the server finally checks the
    dead process's request, that token is already retired (a failed reuse;
    family revocation is off here, a revoking server would revoke the grant:
    the lease cannot know a dead client's request is still queued)."""
    n = 4
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli)
    server.control("strict", revoke_family=0)
    workers = Workers(ctx.cli, server, redis, n, timeout="3", extra=["--lease-ttl", "1500"])
    try:
        warm_up(workers, 1)
        held_token = store_fingerprint(redis)
        server.control("fault", kind="delay", ms=4000)  # before the token is checked
        before = len(server.redemptions()["redemptions"])
        requests_before = refresh_requests(server)
        workers.next_epoch()
        deadline = time.time() + 20
        victim = None
        while time.time() < deadline and victim is None:
            if refresh_requests(server) > requests_before:
                victim = lease_owner_pid(redis)
            time.sleep(0.01)
        check(victim, "a process holds the lease while its request is held")
        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        workers.wait_all_called(timeout=30, allow_killed=True)
        adopted_after = time.time() - killed_at
        deadline = time.time() + 15  # until the server has checked the held request
        while time.time() < deadline:
            if len(server.redemptions()["redemptions"]) >= before + 2:
                break
            time.sleep(0.1)
        expiry = server.redemptions()["redemptions"][before:]
        workers.next_epoch()
        workers.wait_all_called(timeout=30, allow_killed=True)
        workers.stop()
        log = server.redemptions()["redemptions"]
        kills = [r for r in workers.results if r[2] == -signal.SIGKILL]
        print("  killed pid %d (request held before the check); all %d workers called again "
              "%.1f s later; that expiry on the server: %s, presenting %s; exits %s" % (
                  victim, n, adopted_after, [e["outcome"] for e in expiry],
                  ["held" if e["presented"] == held_token else "other" for e in expiry],
                  outcomes_of([{"outcome": r[2]} for r in workers.results])))
        check(len(kills) == 1, "only the victim was killed")
        check(not workers.failures(allow_killed=True), "every other call succeeds")
        check([e["outcome"] for e in expiry] == ["rotated", "reused"],
              "that expiry: one rotation, then the dead process's held request refused")
        check(all(e["presented"] == held_token for e in expiry),
              "both presented the token of the record")
        check_no_double_success(log, "kill_before_send")
        check(outcomes_of(log[before:]).get("rotated") == 2,
              "one rotation for that expiry and one for the next")
        check_store_latest(redis, server, "kill_before_send")
    finally:
        workers.stopping = True
        server.stop()
        redis.cleanup()


@case
def kill_after_commit(ctx):
    """The holder is SIGKILLed right after its commit lands in Redis (Redis
    writes are paused at once, so its release waits): nothing is lost, the
    others adopt the committed grant, one rotation for that expiry."""
    n = 4
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli)
    workers = Workers(ctx.cli, server, redis, n, timeout="3")
    rec_key = "bb:{%s}:rec" % GRANT_NAME
    try:
        warm_up(workers, 1)
        landed = None
        for attempt in range(3):
            server.control("fault", kind="delay", ms=800, after_rotation=1)
            before = len(server.redemptions()["redemptions"])
            workers.next_epoch()
            deadline = time.time() + 20
            victim = None
            while time.time() < deadline and victim is None:
                if len(server.redemptions()["redemptions"]) > before:
                    victim = lease_owner_pid(redis)
                time.sleep(0.01)
            check(victim, "a process holds the lease while its answer is held")
            r = redis.client()
            try:
                gen0 = int(r("HGET", rec_key, "gen"))  # the intent is already written
                deadline = time.time() + 10
                while time.time() < deadline:
                    gen, powner = r("HMGET", rec_key, "gen", "powner")
                    if int(gen) > gen0 and powner is None:
                        break
                check(int(gen) > gen0 and powner is None, "the holder's commit landed")
                r("CLIENT", "PAUSE", "3000", "WRITE")
                lease = r("GET", "bb:{%s}:lease" % GRANT_NAME)
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                r("CLIENT", "UNPAUSE")
            finally:
                r.close()
            workers.wait_all_called(timeout=30, allow_killed=True)
            with workers.lock:
                killed = any(x[2] == -signal.SIGKILL for x in workers.results)
            if killed:
                landed = (victim, int(gen) - gen0, lease is not None, before)
                break
            print("  attempt %d: pid %d had exited before the kill; again" % (attempt + 1, victim))
        check(landed, "the kill landed after the commit, before the process exited")
        victim, gens, lease_held, before = landed
        expiry = server.redemptions()["redemptions"][before:]
        workers.next_epoch()
        workers.wait_all_called(timeout=30, allow_killed=True)
        workers.stop()
        rec = store_record(redis)
        print("  killed pid %d after its commit (gen +%d, its lease %s at the kill); that "
              "expiry on the server: %s; every other call exit 0 (%d calls); store gen %s" % (
                  victim, gens, "still held" if lease_held else "already released",
                  [e["outcome"] for e in expiry], len(workers.results), rec["gen"].decode()))
        check(not workers.failures(allow_killed=True), "every other call succeeds")
        check([e["outcome"] for e in expiry] == ["rotated"], "one rotation for that expiry")
        check_chain(server.redemptions(), len(server.redemptions()["redemptions"]),
                    "kill_after_commit")
        check_store_latest(redis, server, "kill_after_commit")
    finally:
        workers.stopping = True
        server.stop()
        redis.cleanup()


@case
def slow_renewed(ctx):
    """A refresh slower than the lease (--lease-ttl 500, the server holds the
    answer 1.5 s after rotating): the holder renews its lease, so nobody else
    refreshes; one refresh per expiry, no token presented twice."""
    n = 4
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli)
    workers = Workers(ctx.cli, server, redis, n, timeout="5", extra=["--lease-ttl", "500"])
    try:
        warm_up(workers, 1)
        server.control("fault", kind="delay", ms=1500, after_rotation=1)
        before = len(server.redemptions()["redemptions"])
        workers.next_epoch()
        deadline = time.time() + 20
        holder = None
        while time.time() < deadline and holder is None:
            if len(server.redemptions()["redemptions"]) > before:
                holder = lease_owner_pid(redis)
            time.sleep(0.01)
        check(holder, "a process holds the lease while its answer is held")
        owners = []
        t = time.time()
        while time.time() - t < 1.2:  # inside the 1.5 s hold, past two lease lifetimes
            owners.append(lease_owner_pid(redis))
            time.sleep(0.05)
        workers.wait_all_called()
        workers.next_epoch()
        workers.wait_all_called()
        workers.stop()
        log = server.redemptions()
        expiry = log["redemptions"][before:before + 1]
        print("  holder pid %d kept the lease over %d samples in 1.2 s (owners %s); "
              "%d calls, all exit 0" % (holder, len(owners), sorted(set(owners), key=str),
                                        len(workers.results)))
        check(set(owners) == {holder}, "the lease stayed with the holder during its request")
        check(not workers.failures(), "every call succeeds")
        check([e["outcome"] for e in expiry] == ["rotated"], "the held refresh rotated")
        check_chain(log, 4, "slow_renewed")
        check_store_latest(redis, server, "slow_renewed")
    finally:
        workers.stopping = True
        server.stop()
        redis.cleanup()


@case
def slow_unrenewed_orphan(ctx):
    """The same slow refresh with --no-lease-renewal, against a server with a
    reuse grace: the lease expires mid-request, a second process refreshes
    with the same token (accepted in the grace) and commits first; the slow
    one's commit conflicts and its grant is kept as an orphan. When the server
    then refuses the store's token, recovery uses the orphan."""
    n = 4
    redis = RedisServer(ctx.redis_binary).start()
    server = FakeServer(ctx.cli, extra=["--reuse-grace-ms", "5000"])
    server.control("strict", revoke_family=0)
    workers = Workers(ctx.cli, server, redis, n, timeout="5",
                      extra=["--lease-ttl", "500", "--no-lease-renewal"])
    orphans_key = "bb:{%s}:orphans" % GRANT_NAME
    try:
        warm_up(workers, 1)
        server.control("fault", kind="delay", ms=1500, after_rotation=1)
        before = len(server.redemptions()["redemptions"])
        workers.next_epoch()
        workers.wait_all_called()
        deadline = time.time() + 10  # the slow process's commit comes last
        while time.time() < deadline and not redis_list(redis, orphans_key):
            time.sleep(0.05)
        race = server.redemptions()["redemptions"][before:]
        orphans = redis_list(redis, orphans_key)
        print("  the slow expiry on the server: %s" % [e["outcome"] for e in race])
        check([e["outcome"] for e in race] == ["rotated", "grace"],
              "the slow refresh rotated; a second process refreshed the same token in the grace")
        check(race[0]["presented"] == race[1]["presented"], "both presented the same token")
        check(len(orphans) == 1, "one orphan kept in Redis (%d)" % len(orphans))
        orphan_fp = fingerprint(decode_grant(orphans[0])[1])
        check(orphan_fp == race[0]["issued"], "the orphan is the slow refresh's grant")
        check(store_fingerprint(redis) == race[1]["issued"], "the store holds the winner's grant")
        # The server refuses the store's token once: the next refresh falls back on the orphan.
        server.control("fault", kind="answer", status=400, body=b'{"error":"invalid_grant"}')
        after_race = len(server.redemptions()["redemptions"])
        workers.next_epoch()
        workers.wait_all_called()
        workers.next_epoch()
        workers.wait_all_called()
        workers.stop()
        log = server.redemptions()["redemptions"][after_race:]
        recovery = log[:2]  # the refused refresh and the orphan's
        print("  orphan %s...; after the server refused the store's token: %s, presenting %s; "
              "orphans left %d; %d calls, all exit 0" % (
                  orphan_fp[:6], [e["outcome"] for e in log],
                  ["store" if e["presented"] == race[1]["issued"] else
                   "orphan" if e["presented"] == orphan_fp else "other" for e in log],
                  len(redis_list(redis, orphans_key)), len(workers.results)))
        check(not workers.failures(), "every call succeeds")
        check([e["outcome"] for e in recovery] == ["fault", "rotated"],
              "the store's token refused, then one rotation")
        check(recovery[0]["presented"] == race[1]["issued"], "first the store's token")
        check(recovery[1]["presented"] == orphan_fp, "then the orphan's token")
        check([e["outcome"] for e in log[2:]] == ["rotated"], "the next expiry: one rotation")
        check_no_double_success(log, "slow_unrenewed_orphan (after the race)")
        check_store_latest(redis, server, "slow_unrenewed_orphan")
    finally:
        workers.stopping = True
        server.stop()
        redis.cleanup()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli")
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or
                        "/usr/bin/redis-server")
    parser.add_argument("--case")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--all", action="store_true")
    # .ci's sanitizer leg sets BABELBIRD_SCALE_EXPIRIES: the same cases, fewer rounds.
    parser.add_argument("--expiries", type=int,
                        default=int(os.environ.get("BABELBIRD_SCALE_EXPIRIES", "0")),
                        help="override the expiry count of n8/n32 (for quick runs)")
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
        except Exception:  # a broken harness or server: fail the case, say where
            import traceback
            traceback.print_exc()
            print("FAIL %s: an exception in the harness" % name)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
