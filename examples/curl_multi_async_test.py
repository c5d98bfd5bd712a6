#!/usr/bin/env python3
"""Runs examples/curl_multi_async against `babelbird-cli serve-fake`.

Each case starts its own server (port 0: a free port), steers it through its
/_fake/ control API (cli/fake_control.hpp), runs the example, and checks its
exit status, its one-line summary and what the server recorded. Every case
also checks that no secret (client secret, Basic value, refresh or access
token sent) appears in the example's output. The server is always stopped.

    curl_multi_async_test.py --example build/examples/curl_multi_async \\
        --cli build/cli/babelbird-cli --case concurrent
    curl_multi_async_test.py --list
"""

import argparse
import base64
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys

CLIENT_ID = "babel-client"
CLIENT_SECRET = "S3cr3t+/=:%!value"
REFRESH_TOKEN = "rt+/=%Zq9-REFRESH-0123456789abcdef"
CONTEXT = "/babel"
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
INVALID_TOKEN = json.dumps({"error": "invalid_token"})

EXAMPLE = None
CLI = None


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


class FakeServer:
    """`babelbird-cli serve-fake`, started and always stopped by the case."""

    def __enter__(self):
        env = dict(os.environ, BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=CLIENT_SECRET,
                   BABELBIRD_REFRESH_TOKEN=REFRESH_TOKEN)
        self.proc = subprocess.Popen([CLI, "serve-fake", "--context-path", CONTEXT],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready:
            self.__exit__(None, None, None)
            raise Failure("serve-fake did not report its address within 10 s")
        first = json.loads(self.proc.stdout.readline())
        self.port, self.base_url = first["port"], first["base_url"]
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return False

    def control(self, what, query="", body=b""):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET" if what == "requests" else "POST",
                         "/_fake/" + what + ("?" + query if query else ""), body=body)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        check(resp.status == 200, f"control {what} answered {resp.status}")
        return json.loads(data)

    def requests(self):
        """(refresh requests, file-list requests) as recorded."""
        seen = self.control("requests")
        refreshes = [r for r in seen if r["path"] == CONTEXT + "/api/refreshToken.do"]
        files = [r for r in seen if r["path"] == CONTEXT + "/api/v1/file/list"]
        check(len(refreshes) + len(files) == len(seen), f"unexpected requests: {seen}")
        return refreshes, files


def header(request, name):
    for n, v in request["headers"]:
        if n.lower() == name.lower():
            return v
    return None


def param(request, name):
    for n, v in request["params"]:
        if n == name:
            return v
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_example(base_url, calls, refresh_token=REFRESH_TOKEN, env_extra=None):
    """Runs the example; returns (exit status, summary fields, stdout + stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BABELBIRD_")}
    env.update(BABELBIRD_CLIENT_ID=CLIENT_ID, BABELBIRD_CLIENT_SECRET=CLIENT_SECRET,
               BABELBIRD_REFRESH_TOKEN=refresh_token)
    env.update(env_extra or {})
    args = [EXAMPLE] + ([base_url] if base_url else []) + ([str(calls)] if calls is not None else [])
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    print(f"$ curl_multi_async {' '.join(args[1:])}  -> exit {proc.returncode}")
    print(proc.stdout + proc.stderr, end="")
    lines = proc.stdout.splitlines()
    fields = {}
    if lines:
        check(len(lines) == 1, f"one summary line expected, got {lines}")
        head, _, failure = lines[0].partition(" first_failure=")
        fields = dict(item.split("=", 1) for item in head.split())
        if failure:
            fields["first_failure"] = failure
    return proc.returncode, fields, proc.stdout + proc.stderr


def check_no_secrets(output, secrets):
    for s in secrets:
        if s:
            check(s not in output, "a secret appears in the example's output")


def secrets_of(refreshes, files):
    out = [CLIENT_SECRET, BASIC, REFRESH_TOKEN]
    out += [param(r, "refresh_token") for r in refreshes]
    out += [(header(r, "Authorization") or "")[len("Bearer "):] for r in files]
    return out


def expect(fields, **want):
    for key, value in want.items():
        check(fields.get(key) == str(value), f"{key}={fields.get(key)}, expected {value}")


# --- the cases ----------------------------------------------------------------


def case_concurrent():
    """16 calls at once: one refresh shared by all, 16 Bearer calls in flight together."""
    with FakeServer() as server:
        status, fields, output = run_example(server.base_url, 16)
        refreshes, files = server.requests()
    check(status == 0, f"exit {status}")
    expect(fields, calls=16, ok=16, failed=0, grants=1, http_requests=17, max_in_flight=16)
    check(len(refreshes) == 1, f"{len(refreshes)} refreshes seen by the server, expected 1")
    check(header(refreshes[0], "Authorization") == BASIC, "the refresh carries the Basic value")
    check(param(refreshes[0], "refresh_token") == REFRESH_TOKEN, "the seeded refresh token is sent")
    check(len(files) == 16, f"{len(files)} file calls, expected 16")
    check(len({header(r, "Authorization") for r in files}) == 1, "every call used the one token")
    check(all(r["method"] == "GET" and header(r, "Accept") == "application/json" for r in files),
          "file calls are GET with Accept: application/json")
    check_no_secrets(output, secrets_of(refreshes, files))


def case_rejected_token():
    """The server rejects one call's token (401): one more refresh, that call retried once."""
    with FakeServer() as server:
        server.control("file-fault", "status=401", INVALID_TOKEN.encode())
        status, fields, output = run_example(server.base_url, 8)
        refreshes, files = server.requests()
    check(status == 0, f"exit {status}")
    expect(fields, calls=8, ok=8, failed=0, grants=2, http_requests=11)
    check(len(refreshes) == 2, f"{len(refreshes)} refreshes seen by the server, expected 2")
    first, second = (param(r, "refresh_token") for r in refreshes)
    check(first == REFRESH_TOKEN and second not in (None, "", REFRESH_TOKEN),
          "the second refresh sends the rotated refresh token")
    check(len(files) == 9, f"{len(files)} file calls, expected 9 (8 + 1 retry)")
    tokens = [header(r, "Authorization") for r in files]
    # The server's worker threads may record an original call after the retry,
    # so the log order proves nothing; the counts do.
    counts = sorted(tokens.count(t) for t in set(tokens))
    check(counts == [1, 8] and tokens.count(tokens[0]) == 8,
          "the retry alone carries the second token")
    check_no_secrets(output, secrets_of(refreshes, files))


def case_invalid_grant():
    """A refresh token the server does not know: every call ends with reauthorize."""
    with FakeServer() as server:
        status, fields, output = run_example(server.base_url, 8, refresh_token="rt-unknown")
        refreshes, files = server.requests()
    check(status == 1, f"exit {status}")
    expect(fields, calls=8, ok=0, failed=8, grants=0, http_requests=1)
    check(fields.get("first_failure", "").startswith("reauthorize: "), "a reauthorize failure")
    check(len(refreshes) == 1 and not files, "one refresh, no file call")
    check_no_secrets(output, secrets_of(refreshes, files) + ["rt-unknown"])


def case_server_down():
    """Nothing listens: the one refresh fails with connection_refused, shared by all 8 calls."""
    status, fields, output = run_example(f"http://127.0.0.1:{free_port()}{CONTEXT}", 8)
    check(status == 1, f"exit {status}")
    expect(fields, calls=8, ok=0, failed=8, grants=0, http_requests=1)
    check(fields.get("first_failure") == "retry: the connection was refused",
          f"first_failure={fields.get('first_failure')}")
    check_no_secrets(output, [CLIENT_SECRET, BASIC, REFRESH_TOKEN])


def case_usage():
    """Bad input ends with exit 2 before anything is sent."""
    status, fields, output = run_example(None, None)
    check(status == 2 and not fields, f"no base URL: exit {status}")
    status, fields, output = run_example("http://disk.example.com/babel", 8)
    check(status == 2 and not fields, f"plain http to a remote host: exit {status}")
    status, fields, output = run_example("http://127.0.0.1:1/babel", 0)
    check(status == 2 and not fields, f"0 calls: exit {status}")
    check_no_secrets(output, [CLIENT_SECRET, BASIC, REFRESH_TOKEN])


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    global EXAMPLE, CLI
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example")
    parser.add_argument("--cli")
    parser.add_argument("--case", choices=sorted(CASES) + ["all"])
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    if not args.example or not args.cli or not args.case:
        parser.error("--example, --cli and --case are required")
    EXAMPLE, CLI = os.path.abspath(args.example), os.path.abspath(args.cli)
    failed = 0
    for name in CASES if args.case == "all" else [args.case]:
        try:
            CASES[name]()
            print(f"PASS {name}")
        except (Failure, subprocess.TimeoutExpired, OSError, ValueError) as e:
            print(f"FAIL {name}: {e}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
