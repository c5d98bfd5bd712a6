#!/usr/bin/env python3
"""End-to-end tests of babelbird-cli over real loopback sockets.

Each case starts its own `babelbird-cli serve-fake` (port 0: a free port),
configures it through the server's /_fake/ control API, runs the CLI against
it and stops the server again (SIGTERM; the server must exit 0). Nothing is
left running, even when a case fails.

    cli_e2e.py --cli build/cli/babelbird-cli --case refresh_success
    cli_e2e.py --cli build/cli/babelbird-cli --case all
    cli_e2e.py --list

Every failure case checks: the exit status of its class (2 usage,
3 reauthorize, 4 retry, 5 protocol, 6 configuration), an empty stdout (unless
the case expects a rescue copy or an answer body there), and one stderr line
`babelbird-cli: <class>: <message>` that holds none of the known secrets.

The --store cases check the grant file: written atomically (mode 0600, never
half-written, even when the CLI is killed with SIGKILL at random points), read
strictly, and holding the server's newest refresh token before exit 0.
"""

import argparse
import base64
import http.client
import glob
import json
import os
import random
import re
import resource
import shutil
import stat
import tempfile
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

CLIENT_ID = "babel-client"
CLIENT_SECRET = "S3cr3t+/=:%!value"
REFRESH_TOKEN = "rt+/=%Zq9-REFRESH-0123456789abcdef"
REDIRECT_URI = "https://app.example.com/cb?tenant=a+b&x=%2F"
CONTEXT = "/babel"
EXPECTED_BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CLASS_STATUS = {"usage": 2, "reauthorize": 3, "retry": 4, "protocol": 5, "configuration": 6}
STORE_FIELDS = {"access_token", "refresh_token", "expires_in", "expires_at", "refresh_expires_at",
                "token_type", "scope"}

CLI = None
OBSERVED = []  # (case, command, run) for the report
PEAKS = []  # (case, command, baseline KiB, peak KiB)


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


# --- the server ---------------------------------------------------------------


class FakeServer:
    """`babelbird-cli serve-fake`, started and always stopped by the test."""

    def __enter__(self):
        env = dict(os.environ)
        env.update(BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=CLIENT_SECRET,
                   BABELBIRD_REFRESH_TOKEN=REFRESH_TOKEN)
        self.proc = subprocess.Popen([CLI, "serve-fake", "--context-path", CONTEXT],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready:
            self.__exit__(None, None, None)
            raise Failure("serve-fake did not report its address within 10 s")
        first = json.loads(self.proc.stdout.readline())
        self.port = first["port"]
        self.base_url = first["base_url"]
        check(self.base_url == f"http://127.0.0.1:{self.port}{CONTEXT}", "serve-fake base_url")
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if exc[0] is None:
                    raise Failure("serve-fake did not stop on SIGTERM")
        self.proc.stdout.close()
        self.proc.stderr.close()
        if exc[0] is None:
            check(self.proc.returncode == 0, f"serve-fake exited {self.proc.returncode}")
        return False

    def request(self, method, target, body=b"", timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def control(self, what, query=None, body=b""):
        target = "/_fake/" + what
        if query:
            target += "?" + urllib.parse.urlencode(query)
        status, _, data = self.request("GET" if what == "requests" else "POST", target, body)
        check(status == 200, f"control {what} answered {status}")
        return json.loads(data)

    def fault(self, kind, body=b"", **query):
        self.control("fault", dict(kind=kind, **query), body)

    def requests(self):
        return self.control("requests")

    def authorize_code(self, redirect_uri=REDIRECT_URI):
        """Gets a code the way a browser would: GET authorize.do, read the 302."""
        query = urllib.parse.urlencode(dict(response_type="code", client_id=CLIENT_ID,
                                            redirect_uri=redirect_uri, data="st+ate"))
        status, headers, _ = self.request("GET", f"{CONTEXT}/api/authorize.do?{query}")
        check(status == 302, f"authorize answered {status}")
        location = headers["Location"]
        check(location.startswith(redirect_uri + "&code="), "callback appends with '&'")
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        check(params["data"] == ["st+ate"], "data comes back")
        return params["code"][0]


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the CLI ------------------------------------------------------------------


class Run:
    def __init__(self, status, out, err, seconds, peak_kib):
        self.status, self.out, self.err = status, out, err
        self.seconds, self.peak_kib = seconds, peak_kib


def sanitized():
    """Whether the CLI was built with a sanitizer (whose shadow memory defeats RLIMIT_DATA)."""
    with open(CLI, "rb") as f:
        image = f.read()
    return b"__asan_init" in image or b"__tsan_init" in image or b"__msan_init" in image


def run_cli(args, env_extra, timeout=30, data_limit=None, stdout_path=None):
    """Runs the CLI; also measures its wall time and its peak RSS (wait4). With
    `data_limit` (bytes) the CLI runs under that RLIMIT_DATA; with `stdout_path`
    its stdout is that file (e.g. /dev/full) instead of a pipe."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BABELBIRD_")}
    env.update(env_extra)

    def limit():
        if data_limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    start = time.monotonic()
    sink = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
    try:
        proc = subprocess.Popen([CLI] + args, stdout=sink, stderr=subprocess.PIPE, env=env,
                                preexec_fn=limit)
    finally:
        if stdout_path:
            sink.close()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        out = proc.stdout.read() if proc.stdout else b""  # small: never fills a pipe
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stdout:
        proc.stdout.close()
    proc.stderr.close()
    return Run(proc.returncode, out.decode(), err.decode(), time.monotonic() - start,
               usage.ru_maxrss)


def secrets_in(text, extra=()):
    """Which known secret (or an encoding of one) appears in `text`."""
    values = [CLIENT_SECRET, REFRESH_TOKEN, EXPECTED_BASIC.split(" ")[1],
              urllib.parse.quote(REFRESH_TOKEN, safe=""),
              urllib.parse.quote(CLIENT_SECRET, safe="")]
    values += [v for v in extra if v]
    values += [urllib.parse.quote(v, safe="") for v in extra if v]
    return [v for v in values if v in text]


def refresh(server_url, refresh_token=REFRESH_TOKEN, secret=CLIENT_SECRET, extra=(),
            data_limit=None):
    return run_cli(["refresh", "--base-url", server_url] + list(extra),
                   dict(BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=secret,
                        BABELBIRD_REFRESH_TOKEN=refresh_token), data_limit=data_limit)


def token(server_url, code, redirect_uri=REDIRECT_URI, secret=CLIENT_SECRET, extra=(),
          data_limit=None):
    return run_cli(["token", "--base-url", server_url, "--redirect-uri", redirect_uri]
                   + list(extra),
                   dict(BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=secret,
                        BABELBIRD_AUTH_CODE=code), data_limit=data_limit)


def expect_success(case, command, run, secrets=()):
    OBSERVED.append((case, command, run))
    check(run.status == 0, f"{command}: exit {run.status}, stderr {run.err!r}")
    check(run.err == "", f"{command}: stderr not empty: {run.err!r}")
    lines = run.out.splitlines()
    check(len(lines) == 1, f"{command}: stdout is not one line")
    obj = json.loads(lines[0])
    check(isinstance(obj, dict), "stdout is one JSON object")
    for key in ("access_token", "refresh_token", "expires_in", "expires_at", "refresh_expires_at"):
        check(key in obj, f"{command}: stdout lacks {key}")
    check(isinstance(obj["access_token"], str) and obj["access_token"], "access_token")
    check(obj["expires_in"] is None or isinstance(obj["expires_in"], int), "expires_in")
    check(RFC3339.match(obj["expires_at"]), f"expires_at {obj['expires_at']!r}")
    check(obj["refresh_expires_at"] is None or RFC3339.match(obj["refresh_expires_at"]),
          "refresh_expires_at")
    return obj


def expect_failure(case, command, run, kind, secrets=(), within=None, says=None, stdout_ok=False):
    OBSERVED.append((case, command, run))
    check(run.status == CLASS_STATUS[kind],
          f"{command}: exit {run.status}, wanted {CLASS_STATUS[kind]} ({kind}); "
          f"stderr {run.err!r}")
    if not stdout_ok:
        check(run.out == "", f"{command}: stdout not empty on failure: {run.out!r}")
    lines = run.err.splitlines()
    check(len(lines) == 1, f"{command}: stderr is not one line: {run.err!r}")
    check(lines[0].startswith(f"babelbird-cli: {kind}: "), f"stderr format: {lines[0]!r}")
    leaked = secrets_in(run.err, secrets)
    check(not leaked, f"{command}: stderr holds a secret")
    if says is not None:
        check(says in lines[0], f"{command}: {lines[0]!r} does not say {says!r}")
    if within is not None:
        check(run.seconds <= within, f"{command}: took {run.seconds:.2f} s, limit {within} s")
    return lines[0]


# --- cases ----------------------------------------------------------------------

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


@case
def refresh_success():
    with FakeServer() as s:
        obj = expect_success("refresh_success", "refresh", refresh(s.base_url))
        check(obj["refresh_token"] != REFRESH_TOKEN, "the refresh token rotated")
        check(obj["expires_in"] == 3600, "expires_in 3600")
        check(obj["token_type"] == "bearer", "token_type")
        check("scope" not in obj, "no scope when the server sent none")
        check(obj["refresh_expires_at"] is not None, "a new refresh token has an expiry")
        seen = s.requests()
        check(len(seen) == 1, "one request")
        r = seen[0]
        check(r["method"] == "POST", "method POST")
        check(r["path"] == CONTEXT + "/api/refreshToken.do", f"path {r['path']!r}")
        check(r["query"] == "grant_type=refresh_token&refresh_token="
              "rt%2B%2F%3D%25Zq9-REFRESH-0123456789abcdef", f"raw query {r['query']!r}")
        check(r["params"] == [["grant_type", "refresh_token"], ["refresh_token", REFRESH_TOKEN]],
              "decoded query equals the originals")
        headers = {k.lower(): v for k, v in r["headers"]}
        check(headers.get("authorization") == EXPECTED_BASIC, "Basic header, raw mode")
        check(headers.get("accept") == "application/json", "Accept")
        check("content-type" not in headers, "no Content-Type on an empty body")
        check(r["body"] == "", "empty body")


@case
def refresh_rotation():
    with FakeServer() as s:
        first = expect_success("refresh_rotation", "refresh", refresh(s.base_url))
        expect_failure("refresh_rotation", "refresh (old token)", refresh(s.base_url),
                       "reauthorize")
        second = expect_success("refresh_rotation", "refresh (rotated token)",
                                refresh(s.base_url, first["refresh_token"]))
        check(second["refresh_token"] not in (first["refresh_token"], REFRESH_TOKEN), "rotated")


@case
def refresh_rotation_off():
    with FakeServer() as s:
        s.control("rotation", {"enabled": "0"})
        obj = expect_success("refresh_rotation_off", "refresh", refresh(s.base_url))
        check(obj["refresh_token"] == REFRESH_TOKEN, "same refresh token when not rotated")
        expect_success("refresh_rotation_off", "refresh (again)", refresh(s.base_url))


@case
def refresh_missing_refresh_token():
    with FakeServer() as s:
        s.fault("omit_refresh_token")
        obj = expect_success("refresh_missing_refresh_token", "refresh", refresh(s.base_url))
        check(obj["refresh_token"] == REFRESH_TOKEN, "the refresh token that was sent is kept")
        check(obj["refresh_expires_at"] is None, "its expiry is unknown: null")
        expect_success("refresh_missing_refresh_token", "refresh (kept token still works)",
                       refresh(s.base_url))


@case
def refresh_invalid_grant():
    with FakeServer() as s:
        line = expect_failure("refresh_invalid_grant", "refresh",
                              refresh(s.base_url, "unknown+/=%token"), "reauthorize",
                              ["unknown+/=%token"])
        check("invalid_grant" in line and "400" in line, line)


@case
def refresh_wrong_secret():
    # invalid_client: signing in again cannot help, the client is misconfigured.
    with FakeServer() as s:
        line = expect_failure("refresh_wrong_secret", "refresh",
                              refresh(s.base_url, secret="wrong+/=secret"), "configuration",
                              ["wrong+/=secret"])
        check("invalid_client" in line and "401" in line, line)


def fault_case(name, kind, fault, body=b"", within=None, extra=(), says=None, **query):
    def body_fn():
        with FakeServer() as s:
            s.fault(fault, body, **query)
            expect_failure(name, "refresh", refresh(s.base_url, extra=extra), kind,
                           within=within, says=says)
            code = s.authorize_code()
            s.fault(fault, body, **query)
            expect_failure(name.replace("refresh", "token"), "token",
                           token(s.base_url, code, extra=extra), kind, [code], within=within,
                           says=says)
    body_fn.__name__ = name
    CASES[name] = body_fn


fault_case("refresh_503", "retry", "answer", b"<html>maintenance</html>", status="503",
           content_type="text/html", says="HTTP 503")
fault_case("refresh_429", "retry", "answer", b'{"error":"slow_down"}', status="429",
           says="HTTP 429")
fault_case("refresh_503_retry_after", "retry", "answer", b'{"error":"temporarily_unavailable"}',
           status="503", retry_after="120", says="retry after 120 s")
fault_case("refresh_429_retry_after", "retry", "answer", b'{"error":"slow_down"}',
           status="429", retry_after="7", says="retry after 7 s")
fault_case("refresh_garbage", "protocol", "answer", b"<html>welcome</html>", status="200",
           content_type="text/html", says="not valid JSON")
fault_case("refresh_truncated_json", "protocol", "answer",
           b'{"access_token":"at-123","expires_in":36', status="200", says="not valid JSON")
fault_case("refresh_302", "protocol", "redirect", location="https://login.example.com/",
           says="redirect (HTTP 302)")
fault_case("refresh_partial_body", "retry", "partial", says="cut short")
fault_case("refresh_never_answers", "retry", "hang", within=3.0, extra=("--timeout", "2"),
           says="timed out")


def oversize(name, chunked):
    def body_fn():
        # The CLI runs with at most 24 MiB of data memory while the server offers
        # 64 MiB: buffering the body would fail the allocation (exit 4, not 5).
        limit = None if sanitized() else 24 << 20
        with FakeServer() as s:
            baseline = refresh(s.base_url)  # an ordinary exchange, for its peak RSS
            check(baseline.status == 0, "baseline refresh")
            for command in ("refresh", "token"):
                s.fault("oversize", bytes=str(64 << 20), chunked="1" if chunked else "0")
                if command == "refresh":
                    run = refresh(s.base_url, data_limit=limit)
                    expect_failure(name, command, run, "protocol", says="size limit")
                else:
                    code = s.authorize_code()
                    run = token(s.base_url, code, data_limit=limit)
                    expect_failure(name.replace("refresh", "token"), command, run, "protocol",
                                   [code], says="size limit")
                # Aborted at the 1 MiB cap: the peak stays near an ordinary run's,
                # far below the 64 MiB the server offered (sanitizers inflate both).
                grown = run.peak_kib - baseline.peak_kib
                check(grown < 16 * 1024, f"{command}: peak RSS grew by {grown} KiB")
                PEAKS.append((name, command, baseline.peak_kib, run.peak_kib))
    body_fn.__name__ = name
    CASES[name] = body_fn


oversize("refresh_body_over_cap", False)
oversize("refresh_body_over_cap_chunked", True)


@case
def refresh_connection_refused():
    url = f"http://127.0.0.1:{free_port()}{CONTEXT}"
    expect_failure("refresh_connection_refused", "refresh", refresh(url), "retry", within=5,
                   says="refused")
    expect_failure("token_connection_refused", "token", token(url, "code-xyz"), "retry",
                   ["code-xyz"], within=5, says="refused")


class RawServer:
    """A loopback socket that reads each request and closes without answering
    (or with a reset, when `reset`): what a crashing server looks like."""

    def __init__(self, reset):
        self.reset = reset

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()
        return self

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                except OSError:
                    pass
                if self.reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    (1).to_bytes(4, "little") + (0).to_bytes(4, "little"))

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.sock.close()
        return False


def connection_broken(name, reset):
    def body_fn():
        with RawServer(reset) as raw:
            url = f"http://127.0.0.1:{raw.port}{CONTEXT}"
            expect_failure(name, "refresh", refresh(url), "retry", within=5, says="reset")
            expect_failure(name.replace("refresh", "token"), "token", token(url, "code-xyz"),
                           "retry", ["code-xyz"], within=5, says="reset")
    body_fn.__name__ = name
    CASES[name] = body_fn


connection_broken("refresh_closed_without_answer", False)
connection_broken("refresh_connection_reset", True)


@case
def token_success():
    with FakeServer() as s:
        code = s.authorize_code()
        obj = expect_success("token_success", "token", token(s.base_url, code))
        check(obj["refresh_token"], "a refresh token was issued")
        check(obj["expires_in"] == 3600, "expires_in")
        seen = [r for r in s.requests() if r["path"].endswith("/api/token.do")]
        check(len(seen) == 1, "one token request")
        r = seen[0]
        check(r["method"] == "POST", "method POST")
        check(r["path"] == CONTEXT + "/api/token.do", "path with the context prefix")
        check(r["params"] == [["grant_type", "authorization_code"], ["code", code],
                              ["redirect_uri", REDIRECT_URI]], "decoded query")
        check(r["query"] == "grant_type=authorization_code&code="
              + urllib.parse.quote(code, safe="-._~") + "&redirect_uri="
              + urllib.parse.quote(REDIRECT_URI, safe="-._~"), f"raw query {r['query']!r}")
        headers = {k.lower(): v for k, v in r["headers"]}
        check(headers.get("authorization") == EXPECTED_BASIC, "Basic header")
        # The issued refresh token works for refresh.
        expect_success("token_success", "refresh (with the issued token)",
                       refresh(s.base_url, obj["refresh_token"]))
        # A code is single use.
        expect_failure("token_code_reused", "token (same code again)", token(s.base_url, code),
                       "reauthorize", [code])


@case
def token_rotation():
    """The code exchange issues a refresh token; refreshing with it rotates it."""
    with FakeServer() as s:
        obj = expect_success("token_rotation", "token", token(s.base_url, s.authorize_code()))
        new = expect_success("token_rotation", "refresh", refresh(s.base_url, obj["refresh_token"]))
        check(new["refresh_token"] != obj["refresh_token"], "rotated")
        expect_failure("token_rotation", "refresh (old token)",
                       refresh(s.base_url, obj["refresh_token"]), "reauthorize",
                       [obj["refresh_token"]])


@case
def token_missing_refresh_token():
    with FakeServer() as s:
        code = s.authorize_code()
        s.fault("omit_refresh_token")
        obj = expect_success("token_missing_refresh_token", "token", token(s.base_url, code))
        check(obj["refresh_token"] is None, "no refresh token: null")
        check(obj["refresh_expires_at"] is None, "no refresh expiry: null")


@case
def token_invalid_grant():
    with FakeServer() as s:
        line = expect_failure("token_invalid_grant", "token", token(s.base_url, "code-unknown+/="),
                              "reauthorize", ["code-unknown+/="])
        check("invalid_grant" in line, line)
        code = s.authorize_code()
        expect_failure("token_invalid_grant", "token (other redirect_uri)",
                       token(s.base_url, code, redirect_uri="https://evil.example.com/cb"),
                       "reauthorize", [code])


@case
def token_wrong_secret():
    with FakeServer() as s:
        code = s.authorize_code()
        line = expect_failure("token_wrong_secret", "token",
                              token(s.base_url, code, secret="wrong+/=secret"), "configuration",
                              [code, "wrong+/=secret"])
        check("invalid_client" in line, line)


@case
def token_code_expired():
    with FakeServer() as s:
        code = s.authorize_code()
        s.control("advance", {"seconds": "301"})
        expect_failure("token_code_expired", "token", token(s.base_url, code), "reauthorize",
                       [code])


@case
def usage_errors():
    with FakeServer() as s:
        env = dict(BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=CLIENT_SECRET,
                   BABELBIRD_REFRESH_TOKEN=REFRESH_TOKEN)
        runs = {
            "no env": run_cli(["refresh", "--base-url", s.base_url], {}),
            "no --base-url": run_cli(["refresh"], env),
            "plain http to a remote host": run_cli(
                ["refresh", "--base-url", "http://disk.example.com/babel"], env),
            "bad --timeout": run_cli(["refresh", "--base-url", s.base_url, "--timeout", "x"],
                                     env),
            "secret on argv is refused": run_cli(
                ["refresh", "--base-url", s.base_url, "--refresh-token=" + REFRESH_TOKEN], env),
            "unknown command": run_cli(["frobnicate"], env),
            "token without --redirect-uri": run_cli(["token", "--base-url", s.base_url], env),
        }
        for what, run in runs.items():
            expect_failure("usage_errors", what, run, "usage")
        check(s.requests() == [], "nothing was sent")


@case
def refresh_verbose_redacts():
    with FakeServer() as s:
        run = refresh(s.base_url, extra=["--verbose"])
        OBSERVED.append(("refresh_verbose_redacts", "refresh --verbose", run))
        check(run.status == 0, f"exit {run.status}")
        check(len(run.out.splitlines()) == 1, "stdout is still one JSON object")
        new = json.loads(run.out)
        check("refresh_token=[redacted]" in run.err, "the URL's refresh token is redacted")
        check("Authorization: Basic [redacted]" in run.err, "the Basic header is redacted")
        check("HTTP 200" in run.err, "the exchange is shown")
        check(not secrets_in(run.err, [new["access_token"], new["refresh_token"]]),
              "no secret in --verbose output")


@case
def authorize_url():
    run = run_cli(["authorize-url", "--base-url", "https://disk.example.com/babel",
                   "--redirect-uri", REDIRECT_URI, "--data", "st+ate"],
                  dict(BABELBIRD_CLIENT_ID=CLIENT_ID))
    OBSERVED.append(("authorize_url", "authorize-url", run))
    check(run.status == 0, f"exit {run.status}: {run.err!r}")
    url = run.out.strip()
    parts = urllib.parse.urlsplit(url)
    check(parts.scheme == "https" and parts.path == "/babel/api/authorize.do", url)
    check(urllib.parse.parse_qsl(parts.query) == [("response_type", "code"),
                                                  ("client_id", CLIENT_ID),
                                                  ("redirect_uri", REDIRECT_URI),
                                                  ("data", "st+ate")], url)


@case
def demo():
    run = run_cli(["demo"], {}, timeout=60)
    OBSERVED.append(("demo", "demo", run))
    check(run.status == 0, f"demo exit {run.status}: {run.err!r}")
    check("demo finished" in run.out, "the demo ran to the end")
    check("HTTP 401" in run.out and "(rotated)" in run.out, "expiry and rotation shown")
    check("demo-secret" not in run.out, "the client secret is not shown")

# --- --store, delivery, call (issue 10) -------------------------------------------


class StoreDir:
    """A private temporary directory for a store file, removed afterwards."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="babelbird-e2e-")
        self.path = os.path.join(self.dir, "grant.json")
        self.spec = "file:" + self.path
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def temporaries(self):
        return glob.glob(os.path.join(self.dir, ".grant.json.tmp-*"))

    def load(self):
        with open(self.path, "rb") as f:
            raw = f.read()
        obj = json.loads(raw)
        check(isinstance(obj, dict) and set(obj) <= STORE_FIELDS, f"store fields {sorted(obj)}")
        for key in ("access_token", "refresh_token", "expires_in", "expires_at",
                    "refresh_expires_at"):
            check(key in obj, f"the store lacks {key}")
        return obj, raw

    def mode(self):
        return stat.S_IMODE(os.stat(self.path).st_mode)

    def save(self, obj):
        with open(self.path, "w") as f:
            json.dump(obj, f)
        os.chmod(self.path, 0o600)


def client_env(**extra):
    env = dict(BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=CLIENT_SECRET)
    env.update(extra)
    return env


def call(server_url, store, method, path, extra=(), env=None, stdout_path=None):
    return run_cli(["call", method, path, "--base-url", server_url, "--store", store]
                   + list(extra), env if env is not None else client_env(),
                   stdout_path=stdout_path)


def token_paths(server):
    """The paths of the requests the server saw, shortened (refresh, list, ...)."""
    names = []
    for r in server.requests():
        path = r["path"][len(CONTEXT):]
        names.append({"/api/refreshToken.do": "refresh", "/api/token.do": "token"}.get(
            path, r["method"] + " " + path))
    return names


def bearer_of(request):
    for k, v in request["headers"]:
        if k.lower() == "authorization":
            return v
    return None


@case
def store_refresh_persists():
    """refresh --store: seeded from the environment, then from the store alone;
    every rotation is in the store (mode 0600) before exit 0."""
    with FakeServer() as s, StoreDir() as st:
        obj = expect_success("store_refresh_persists", "refresh --store (env seed)",
                             refresh(s.base_url, extra=["--store", st.spec]))
        stored, _ = st.load()
        check(stored == obj, "the store holds the stdout object")
        check(st.mode() == 0o600, f"store mode {oct(st.mode())}")
        check(not st.temporaries(), "no temporary left")
        # Now without BABELBIRD_REFRESH_TOKEN: the store is the source.
        run = run_cli(["refresh", "--base-url", s.base_url, "--store", st.spec], client_env())
        second = expect_success("store_refresh_persists", "refresh --store (store only)", run)
        check(second["refresh_token"] != obj["refresh_token"], "rotated")
        check(st.load()[0] == second, "the rotation is in the store")
        seen = s.requests()
        check([p for n, p in seen[-1]["params"] if n == "refresh_token"] ==
              [obj["refresh_token"]], "the stored refresh token was sent")
        # token --store: the code from the environment, the grant into the store.
        code = s.authorize_code()
        third = expect_success("store_refresh_persists", "token --store",
                               token(s.base_url, code, extra=["--store", st.spec]))
        check(st.load()[0] == third, "token wrote the store")


@case
def store_strict_read():
    """A store that is not exactly a grant is refused (exit 2) without showing
    its content and without sending anything."""
    marker = "rt-SECRET-IN-THE-FILE-0123456789"
    bad = {
        "not JSON": '{"access_token":"' + marker,
        "not an object": '["' + marker + '"]',
        "unknown field": json.dumps({"access_token": "at-1", "refresh_token": marker,
                                     "expires_in": 3600, "expires_at": "2030-01-01T00:00:00Z",
                                     "refresh_expires_at": None, "password": marker}),
        "repeated field": '{"access_token":"at-1","refresh_token":"' + marker +
                          '","refresh_token":"x","expires_in":1,"expires_at":'
                          '"2030-01-01T00:00:00Z","refresh_expires_at":null}',
        "wrong type": json.dumps({"access_token": "at-1", "refresh_token": marker,
                                  "expires_in": "3600", "expires_at": "2030-01-01T00:00:00Z",
                                  "refresh_expires_at": None}),
        "bad time": json.dumps({"access_token": "at-1", "refresh_token": marker,
                                "expires_in": 3600, "expires_at": "tomorrow",
                                "refresh_expires_at": None}),
        "empty file": "",
    }
    with FakeServer() as s, StoreDir() as st:
        for what, text in bad.items():
            with open(st.path, "w") as f:
                f.write(text)
            for command in (["refresh"], ["call", "GET", "/api/v1/file/list"]):
                run = run_cli(command + ["--base-url", s.base_url, "--store", st.spec],
                              client_env(BABELBIRD_REFRESH_TOKEN=REFRESH_TOKEN))
                line = expect_failure("store_strict_read", f"{command[0]} ({what})", run,
                                      "usage", [marker])
                check("store" in line, line)
        check(s.requests() == [], "nothing was sent")


@case
def store_kill_atomic():
    """SIGKILL at random points of `refresh --store`, again and again: the file
    always parses and is the old or the new grant, mode 0600; at most one stale
    temporary is left, and the next run removes it."""
    kills, outcomes, stale_seen, finished = 0, {"old": 0, "new": 0}, 0, 0
    rng = random.Random(os.environ.get("BABELBIRD_E2E_SEED"))
    with FakeServer() as s, StoreDir() as st:
        expect_success("store_kill_atomic", "refresh --store (first)",
                       refresh(s.base_url, extra=["--store", st.spec]))
        timings = []
        for _ in range(3):
            run = run_cli(["refresh", "--base-url", s.base_url, "--store", st.spec], client_env())
            check(run.status == 0, f"warm-up run: {run.err!r}")
            timings.append(run.seconds)
        span = max(timings)
        attempts = 0
        while kills < 25 and attempts < 200:
            attempts += 1
            before, before_raw = st.load()
            proc = subprocess.Popen([CLI, "refresh", "--base-url", s.base_url, "--store",
                                     st.spec], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=client_env())
            time.sleep(rng.uniform(0, span))
            hit = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if hit and proc.returncode == -signal.SIGKILL:
                kills += 1
            after, after_raw = st.load()  # parses: never half-written
            check(st.mode() == 0o600, f"mode {oct(st.mode())} after a kill")
            temps = st.temporaries()
            check(len(temps) <= 1, f"{len(temps)} temporaries after a kill")
            stale_seen += len(temps)
            changed = after_raw != before_raw
            if changed:
                check(after["refresh_token"] != before["refresh_token"], "a new grant")
                check(after["access_token"] and RFC3339.match(after["expires_at"]), "whole grant")
            if hit and proc.returncode == -signal.SIGKILL:
                outcomes["new" if changed else "old"] += 1
            else:
                finished += 1
            # A kill after the server rotated but before the rename loses the new
            # token by nature; re-arm the stored one so that the loop goes on.
            s.control("refresh-token", body=after["refresh_token"].encode())
        check(kills >= 20, f"only {kills} kills landed in {attempts} attempts")
        final = expect_success("store_kill_atomic", "refresh --store (after the kills)",
                               run_cli(["refresh", "--base-url", s.base_url, "--store",
                                        st.spec], client_env()))
        check(st.load()[0] == final, "the store holds the last grant")
        check(not st.temporaries(), "the next run removed the stale temporary")
    print(f"  kill test: {kills} kills in {attempts} attempts ({finished} runs ended before "
          f"the kill); after a kill the store held {outcomes['old']}x the old grant, "
          f"{outcomes['new']}x the new one; stale temporaries seen: {stale_seen}")


@case
def store_concurrent_refresh():
    """Four `refresh --store` at once: the store's lock makes them take turns,
    each sends the refresh token the previous one stored, all exit 0."""
    with FakeServer() as s, StoreDir() as st:
        expect_success("store_concurrent_refresh", "refresh --store (first)",
                       refresh(s.base_url, extra=["--store", st.spec]))
        s.control("clear")
        procs = [subprocess.Popen([CLI, "refresh", "--base-url", s.base_url, "--store", st.spec],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=client_env()) for _ in range(4)]
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outs):
            check(p.returncode == 0, f"a concurrent run exited {p.returncode}: {err!r}")
        sent = [dict(r["params"])["refresh_token"] for r in s.requests()]
        check(len(sent) == 4 and len(set(sent)) == 4, "four refreshes, each with its own token")
        issued = [json.loads(out)["refresh_token"] for out, _ in outs]
        check(st.load()[0]["refresh_token"] in issued, "the store holds one of the new grants")
        check(sorted(sent[1:]) == sorted(t for t in issued if t != st.load()[0]["refresh_token"]),
              "each run sent the token the previous run stored")


@case
def stdout_dev_full():
    """A grant that cannot be written to stdout is never exit 0."""
    with FakeServer() as s, StoreDir() as st:
        for extra in ([], ["--store", st.spec]):
            first_rt = REFRESH_TOKEN
            if extra:
                s.control("refresh-token", body=REFRESH_TOKEN.encode())
            run = run_cli(["refresh", "--base-url", s.base_url] + extra,
                          client_env(BABELBIRD_REFRESH_TOKEN=first_rt), stdout_path="/dev/full")
            line = expect_failure("stdout_dev_full", "refresh >/dev/full " + " ".join(extra),
                                  run, "retry")
            check("could not be delivered" in line and "No space left" in line, line)
            if extra:
                stored, _ = st.load()
                check(stored["refresh_token"] != REFRESH_TOKEN, "the store has the new grant")
                check("stored in" in line, line)
            else:
                check("stale" in line, line)
        code = s.authorize_code()
        run = run_cli(["token", "--base-url", s.base_url, "--redirect-uri", REDIRECT_URI],
                      client_env(BABELBIRD_AUTH_CODE=code), stdout_path="/dev/full")
        expect_failure("stdout_dev_full", "token >/dev/full", run, "retry", [code],
                       says="could not be delivered")


@case
def stdout_dev_full_other_commands():
    """authorize-url, --help, demo and serve-fake with stdout on /dev/full: a
    non-zero exit and one stderr line, never a silent exit 0 (nor, for
    serve-fake, a server that runs on without telling anyone its address)."""
    runs = [
        ("authorize-url >/dev/full",
         ["authorize-url", "--base-url", "https://disk.example.com/babel", "--redirect-uri",
          REDIRECT_URI], dict(BABELBIRD_CLIENT_ID=CLIENT_ID), 10),
        ("--help >/dev/full", ["--help"], {}, 10),
        ("demo >/dev/full", ["demo"], {}, 60),
        ("serve-fake >/dev/full", ["serve-fake"], {}, 10),
    ]
    for what, argv, env, timeout in runs:
        run = run_cli(argv, env, timeout=timeout, stdout_path="/dev/full")
        expect_failure("stdout_dev_full_other_commands", what, run, "retry",
                       [CLIENT_SECRET], within=timeout - 2, says="stdout")


@case
def store_path_under_a_file():
    """A store whose directory is a regular file (ENOTDIR) is a bad --store
    argument: usage (exit 2), nothing sent; not 'retry', which running again
    cannot fix."""
    with FakeServer() as s, StoreDir() as st:
        not_a_dir = os.path.join(st.dir, "plain-file")
        with open(not_a_dir, "w") as f:
            f.write("x")
        spec = "file:" + not_a_dir + "/grant.json"
        expect_failure("store_path_under_a_file", "refresh --store FILE/grant.json",
                       refresh(s.base_url, extra=["--store", spec]), "usage", [REFRESH_TOKEN],
                       says="store")
        expect_failure("store_path_under_a_file", "call --store FILE/grant.json",
                       call(s.base_url, spec, "GET", "/api/v1/file/list",
                            env=client_env(BABELBIRD_REFRESH_TOKEN=REFRESH_TOKEN)),
                       "usage", [REFRESH_TOKEN], says="store")
        check(token_paths(s) == [], f"nothing sent: {token_paths(s)}")


@case
def store_without_refresh_token():
    """A store that holds only an expired access token (the server issued no
    refresh token): the grant is dead, so refresh and call say reauthorize
    (exit 3), send nothing, and do not blame the caller's input (usage)."""
    with FakeServer() as s, StoreDir() as st:
        st.save({"access_token": "at-old", "refresh_token": None, "expires_in": 3600,
                 "expires_at": "2001-01-01T00:00:00Z", "refresh_expires_at": None})
        expect_failure("store_without_refresh_token", "refresh --store (no refresh token)",
                       run_cli(["refresh", "--base-url", s.base_url, "--store", st.spec],
                               client_env()), "reauthorize", says="no refresh token")
        expect_failure("store_without_refresh_token", "call (no refresh token)",
                       call(s.base_url, st.spec, "GET", "/api/v1/file/list"), "reauthorize",
                       says="no refresh token")
        check(token_paths(s) == [], f"nothing sent: {token_paths(s)}")


@case
def client_env_control_character():
    """A control character in BABELBIRD_CLIENT_ID or BABELBIRD_CLIENT_SECRET:
    usage, nothing sent, and the line names the variables to fix (not just
    'a value'), without echoing the value."""
    with FakeServer() as s:
        for name in ("BABELBIRD_CLIENT_ID", "BABELBIRD_CLIENT_SECRET"):
            env = client_env(BABELBIRD_REFRESH_TOKEN=REFRESH_TOKEN)
            env[name] = env[name] + "\r\nX-Injected: 1"
            run = run_cli(["refresh", "--base-url", s.base_url], env)
            line = expect_failure("client_env_control_character", "refresh (" + name + ")", run,
                                  "usage", [CLIENT_SECRET, "X-Injected"])
            check(name in line, f"{line!r} does not name {name}")
        check(token_paths(s) == [], f"nothing sent: {token_paths(s)}")


@case
def store_write_fails_rescue():
    """The store cannot be written after the server rotated: the grant is
    printed on stdout as a rescue copy, exit non-zero."""
    with FakeServer() as s:
        spec = "file:/nonexistent-babelbird-dir/grant.json"
        run = refresh(s.base_url, extra=["--store", spec])
        line = expect_failure("store_write_fails_rescue", "refresh --store (unwritable)", run,
                              "retry", stdout_ok=True)
        check("could not be delivered" in line and "rescue copy" in line, line)
        rescue = json.loads(run.out)
        check(rescue["refresh_token"] != REFRESH_TOKEN, "the rescue copy has the new token")
        expect_success("store_write_fails_rescue", "refresh (with the rescued token)",
                       refresh(s.base_url, rescue["refresh_token"]))


@case
def verbose_echo_redacts():
    """--verbose while the server echoes every request secret in a header and
    in the body: no secret, sent or received, shows on stderr."""
    with FakeServer() as s, StoreDir() as st:
        s.control("echo", {"enabled": "1"})
        run = refresh(s.base_url, extra=["--verbose", "--store", st.spec])
        OBSERVED.append(("verbose_echo_redacts", "refresh --verbose --store", run))
        check(run.status == 0, f"exit {run.status}: {run.err!r}")
        new = json.loads(run.out)
        check("X-Echo: " in run.err, "the echo header is shown (redacted)")
        check('"echo":' in run.err, "the echoing body is shown (redacted)")
        check("[redacted]" in run.err, "something was redacted")
        leaked = secrets_in(run.err, [new["access_token"], new["refresh_token"]])
        check(not leaked, f"refresh --verbose shows a secret: {leaked}")

        code = s.authorize_code()
        run = token(s.base_url, code, extra=["--verbose"])
        OBSERVED.append(("verbose_echo_redacts", "token --verbose", run))
        check(run.status == 0, f"token exit {run.status}: {run.err!r}")
        got = json.loads(run.out)
        leaked = secrets_in(run.err, [code, got["access_token"], got["refresh_token"]])
        check(not leaked, f"token --verbose shows a secret: {leaked}")

        # call: the stored grant, then a refresh (server-side expiry), echoed too.
        s.control("advance", {"seconds": "3601"})
        old = st.load()[0]
        run = call(s.base_url, st.spec, "GET", "/api/v1/file/list", ["--verbose"])
        OBSERVED.append(("verbose_echo_redacts", "call --verbose", run))
        check(run.status == 0, f"call exit {run.status}: {run.err!r}")
        now = st.load()[0]
        leaked = secrets_in(run.err, [old["access_token"], old["refresh_token"],
                                      now["access_token"], now["refresh_token"]])
        check(not leaked, f"call --verbose shows a secret: {leaked}")
        check("Authorization: Bearer [redacted]" in run.err, "Bearer redacted")


@case
def refresh_invalid_client():
    """invalid_client is a configuration failure: exit 6."""
    with FakeServer() as s:
        s.fault("invalid_client")
        line = expect_failure("refresh_invalid_client", "refresh", refresh(s.base_url),
                              "configuration")
        check("invalid_client" in line, line)


@case
def client_id_colon():
    """A ':' in the client id: the message says what the user can do."""
    run = run_cli(["refresh", "--base-url", "https://disk.example.com/babel"],
                  dict(BABELBIRD_CLIENT_ID="tenant:app", BABELBIRD_CLIENT_SECRET=CLIENT_SECRET,
                       BABELBIRD_REFRESH_TOKEN=REFRESH_TOKEN))
    line = expect_failure("client_id_colon", "refresh", run, "usage")
    check("BABELBIRD_CLIENT_ID" in line and "--basic-encoding rfc6749" in line, line)


def stored_grant(s, st):
    """A grant in the store, issued by the server (refresh --store)."""
    obj = expect_success("stored_grant", "refresh --store", refresh(s.base_url,
                                                                    extra=["--store", st.spec]))
    s.control("clear")
    return obj


@case
def call_expired_store():
    """call with an expired stored grant: one refresh first (persisted), then
    one 200."""
    with FakeServer() as s, StoreDir() as st:
        grant = stored_grant(s, st)
        grant["expires_at"] = "2001-01-01T00:00:00Z"  # expired for the CLI
        st.save(grant)
        s.control("advance", {"seconds": "3601"})  # and for the server
        run = call(s.base_url, st.spec, "GET", "/api/v1/file/list")
        OBSERVED.append(("call_expired_store", "call GET (expired)", run))
        check(run.status == 0, f"exit {run.status}: {run.err!r}")
        check(json.loads(run.out)["files"], "the answer body is on stdout")
        check(token_paths(s) == ["refresh", "GET /api/v1/file/list"],
              f"requests {token_paths(s)}")
        now, _ = st.load()
        check(now["refresh_token"] != grant["refresh_token"], "the rotation is in the store")
        check(bearer_of(s.requests()[1]) == "Bearer " + now["access_token"],
              "the call used the stored new access token")
        check(st.mode() == 0o600, "mode 0600")


@case
def call_401_retry():
    """call whose token the server rejects (server-side expiry): one refresh,
    one retry, the rotation persisted."""
    with FakeServer() as s, StoreDir() as st:
        grant = stored_grant(s, st)
        s.control("advance", {"seconds": "3601"})  # only the server knows
        run = call(s.base_url, st.spec, "GET", "/api/v1/file/list")
        OBSERVED.append(("call_401_retry", "call GET (401)", run))
        check(run.status == 0, f"exit {run.status}: {run.err!r}")
        check(token_paths(s) == ["GET /api/v1/file/list", "refresh", "GET /api/v1/file/list"],
              f"requests {token_paths(s)}")
        now, _ = st.load()
        check(now["refresh_token"] != grant["refresh_token"], "the rotation is in the store")
        check(bearer_of(s.requests()[2]) == "Bearer " + now["access_token"], "retried with it")
        check(json.loads(run.out)["files"], "the answer body is on stdout")


@case
def call_401_twice_one_retry():
    """A server that rejects the token again after the refresh: exactly one
    refresh and one retry (no loop), a non-zero exit with one line, and the
    rotation is in the store."""
    with FakeServer() as s, StoreDir() as st:
        grant = stored_grant(s, st)
        for _ in range(3):
            s.control("file-fault", {"status": "401"}, b'{"error":"invalid_token"}')
        run = call(s.base_url, st.spec, "GET", "/api/v1/file/list")
        OBSERVED.append(("call_401_twice_one_retry", "call GET (401, 401)", run))
        check(run.status in (3, 5), f"exit {run.status}: {run.err!r}")
        check(len(run.err.splitlines()) == 1 and "HTTP 401" in run.err, run.err)
        check(token_paths(s) == ["GET /api/v1/file/list", "refresh", "GET /api/v1/file/list"],
              f"requests {token_paths(s)}")
        now, _ = st.load()
        check(now["refresh_token"] != grant["refresh_token"], "the rotation is in the store")


@case
def call_salvage():
    """call whose refresh is answered rotate-then-reject: the token_source's
    hook stores the salvaged refresh token, the call fails (non-zero), and the
    next call works with the stored token."""
    with FakeServer() as s, StoreDir() as st:
        grant = stored_grant(s, st)
        grant["expires_at"] = "2001-01-01T00:00:00Z"
        st.save(grant)
        s.fault("rotate_reject", bad="access_token")
        run = call(s.base_url, st.spec, "GET", "/api/v1/file/list")
        OBSERVED.append(("call_salvage", "call GET (rotate-then-reject)", run))
        check(run.status != 0, "exit 0 for a rejected refresh")
        check(len(run.err.splitlines()) == 1, f"one stderr line: {run.err!r}")
        stored, _ = st.load()
        check(stored["refresh_token"] != grant["refresh_token"],
              f"the store holds the salvaged refresh token: {run.err!r}")
        run = call(s.base_url, st.spec, "GET", "/api/v1/file/list")
        check(run.status == 0, f"the next call: exit {run.status}: {run.err!r}")
        check(token_paths(s)[-2:] == ["refresh", "GET /api/v1/file/list"], "refresh, then GET")


@case
def call_non_2xx():
    """A non-2xx answer that is not a token rejection: exit 5 with the status."""
    with FakeServer() as s, StoreDir() as st:
        stored_grant(s, st)
        s.control("file-fault", {"status": "500"}, b'{"error":"disk_on_fire"}')
        run = call(s.base_url, st.spec, "GET", "/api/v1/file/list")
        expect_failure("call_non_2xx", "call GET (500)", run, "protocol", says="HTTP 500",
                       stdout_ok=True)
        check("disk_on_fire" in run.out, "the answer body is on stdout")
        run = call(s.base_url, st.spec, "GET", "/api/v1/no/such/thing")
        expect_failure("call_non_2xx", "call GET (404)", run, "protocol", says="HTTP 404",
                       stdout_ok=True)
        check(token_paths(s).count("refresh") == 0, "no refresh for a valid token")


@case
def call_post_data():
    """call POST with --data and --header; the context path is kept."""
    with FakeServer() as s, StoreDir() as st:
        stored_grant(s, st)
        body = '{"name":"notes.txt","parent":"/docs"}'
        run = call(s.base_url, st.spec, "POST", "/api/v1/file/create",
                   ["--data", body, "--header", "X-Trace-Id: abc 123"])
        OBSERVED.append(("call_post_data", "call POST", run))
        check(run.status == 0, f"exit {run.status}: {run.err!r}")
        check(json.loads(run.out) == {"created": True, "bytes": len(body)}, run.out)
        r = s.requests()[-1]
        check(r["path"] == CONTEXT + "/api/v1/file/create", r["path"])
        check(r["body"] == body, "the body as given")
        headers = {k.lower(): v for k, v in r["headers"]}
        check(headers.get("content-type", "").startswith("application/json"), "Content-Type")
        check(headers.get("x-trace-id") == "abc 123", "the extra header")


@case
def call_usage():
    with FakeServer() as s, StoreDir() as st:
        stored_grant(s, st)
        env = client_env()
        runs = {
            "no --store": run_cli(["call", "GET", "/api/v1/file/list", "--base-url",
                                   s.base_url], env),
            "no PATH": run_cli(["call", "GET", "--base-url", s.base_url, "--store", st.spec],
                               env),
            "bad method": call(s.base_url, st.spec, "G T", "/api/v1/file/list"),
            "dot segment": call(s.base_url, st.spec, "GET", "/api/../admin"),
            "Authorization header": call(s.base_url, st.spec, "GET", "/api/v1/file/list",
                                         ["--header", "Authorization: Bearer x"]),
            "bad header": call(s.base_url, st.spec, "GET", "/api/v1/file/list",
                               ["--header", "no colon"]),
            "redis store without a port": call(s.base_url, "redis://127.0.0.1/k", "GET", "/x"),
            "redis password in the URL": call(s.base_url, "redis://:pw@127.0.0.1:6379/k", "GET",
                                              "/x"),
        }
        for what, run in runs.items():
            expect_failure("call_usage", what, run, "usage")
        check(s.requests() == [], "nothing was sent")


@case
def salvage_rotate_reject():
    """2xx with a new refresh token but an unusable access token: the store
    holds the new refresh token, the exit status is non-zero."""
    for bad in ("access_token", "expires_in", "missing"):
        with FakeServer() as s, StoreDir() as st:
            s.fault("rotate_reject", bad=bad)
            run = refresh(s.base_url, extra=["--store", st.spec])
            OBSERVED.append(("salvage_rotate_reject", f"refresh --store ({bad})", run))
            check(run.status != 0, f"{bad}: exit 0 for a rejected answer")
            check(len(run.err.splitlines()) == 1, f"one stderr line: {run.err!r}")
            check(os.path.exists(st.path), f"{bad}: nothing stored: {run.err!r}")
            stored, _ = st.load()
            check(stored["refresh_token"] not in (None, REFRESH_TOKEN),
                  f"{bad}: the store holds the new refresh token")
            check(st.mode() == 0o600, "mode 0600")
            # The salvaged token works.
            expect_success("salvage_rotate_reject", "refresh --store (salvaged)",
                           run_cli(["refresh", "--base-url", s.base_url, "--store", st.spec],
                                   client_env()))



def main():
    global CLI
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli")
    parser.add_argument("--case", default="all")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    CLI = os.path.abspath(args.cli)
    names = list(CASES) if args.case == "all" else [args.case]
    failed = 0
    for name in names:
        try:
            CASES[name]()
            print(f"ok   {name}")
        except (Failure, Exception) as e:  # noqa: BLE001 - report and go on
            failed += 1
            print(f"FAIL {name}: {e}")
    for c, command, run in OBSERVED:
        print(f"  observed: {c:32} {command:36} exit {run.status}  {run.seconds:5.2f} s")
    for c, command, base, peak in PEAKS:
        print(f"  peak RSS: {c:32} {command:36} {peak} KiB (ordinary run {base} KiB)")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
