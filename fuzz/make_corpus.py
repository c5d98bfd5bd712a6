#!/usr/bin/env python3
"""Write the seed corpora of the libFuzzer targets into fuzz/corpus/<target>/.

The seeds are the unit tests' bodies and inputs in each target's input format.
Re-running rewrites the named seeds and leaves other files (regression inputs
that libFuzzer found) alone.

    fuzz/make_corpus.py
"""
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"

# fuzz_token_response: byte 0 picks the status (index into its table when
# < 0x80), byte 1 the options (bits 0-1 envelope "", /data, /data/0, /a~1b/c~0d;
# bit 2 a 48-byte body cap; bit 3 renamed fields), then the body.
STATUS = {200: 0, 201: 1, 204: 2, 299: 3, 400: 4, 401: 5, 403: 6, 404: 7,
          408: 8, 429: 9, 500: 10, 503: 11, 302: 12, 101: 13, 99: 14, 600: 15}

TYPICAL = (b'{"access_token":"at.ACCESS-0123456789abcdef0123456789","token_type":"bearer",'
           b'"refresh_token":"rt+/=%Zq9-REFRESH-0123456789abcdef","expires_in":3600,"scope":"read write"}')


def with_(fields: bytes) -> bytes:
    return b'{"access_token":"at.ACCESS-0123456789abcdef0123456789",' + fields + b"}"


TOKEN_RESPONSE = {
    "typical": (200, 0, TYPICAL),
    "typical_201": (201, 0, TYPICAL),
    "not_rotated": (200, 0, with_(b'"expires_in":60')),
    "refresh_null": (200, 0, with_(b'"refresh_token":null')),
    "expires_string": (200, 0, with_(b'"expires_in":"3600"')),
    "expires_max": (200, 0, with_(b'"expires_in":18446744073709551615')),
    "expires_overflow": (200, 0, with_(b'"expires_in":18446744073709551616')),
    "expires_fraction": (200, 0, with_(b'"expires_in":3600.5')),
    "expires_exponent": (200, 0, with_(b'"expires_in":1e3')),
    "expires_minus_zero": (200, 0, with_(b'"expires_in":-0')),
    "expires_leading_zero": (200, 0, with_(b'"expires_in":0123')),
    "refresh_expires": (200, 0, with_(b'"refresh_expires_in":"86400"')),
    "unknown_nested": (200, 0, with_(b'"x":{"a":[1,2.5,-3e2,true,false,null,"s\\n"],"b":{}},"y":[]')),
    "bom": (200, 0, b"\xef\xbb\xbf" + TYPICAL),
    "escaped_token": (200, 0, b'{"access_token":"a\\/b\\u0041"}'),
    "escaped_nul": (200, 0, b'{"access_token":"a\\u0000b"}'),
    "escaped_crlf": (200, 0, b'{"access_token":"a\\r\\nX-Evil: 1"}'),
    "token_space": (200, 0, b'{"access_token":"a b"}'),
    "token_number": (200, 0, b'{"access_token":123}'),
    "duplicate": (200, 0, b'{"access_token":"a","access_token":"b"}'),
    "duplicate_escaped_key": (200, 0, b'{"access_token":"a","access\\u005ftoken":"b"}'),
    "case_variant": (200, 0, with_(b'"Refresh_Token":"x"')),
    "scope_unicode": (200, 0, with_(b'"scope":"\\u4e2d\\u6587 files","x":"caf\\u00e9"')),
    "trailing_object": (200, 0, TYPICAL + b"{}"),
    "trailing_garbage": (200, 0, TYPICAL + b" x"),
    "invalid_utf8": (200, 0, with_(b'"x":"\xc3\x28"')),
    "lone_surrogate": (200, 0, with_(b'"x":"\\ud800"')),
    "deep": (200, 0, b'{"access_token":"tok","x":' + b"[" * 70 + b"]" * 70 + b"}"),
    "array": (200, 0, b"[]"),
    "empty_200": (200, 0, b""),
    "html_200": (200, 0, b"<html><body>Login</body></html>"),
    "error_200": (200, 0, b'{"error":"invalid_grant"}'),
    "error_unknown": (400, 0, b'{"error":"account_locked"}'),
    "error_400": (400, 0, b'{"error":"invalid_grant","error_description":"refresh token expired"}'),
    "error_401": (401, 0, b'{"error":"invalid_client"}'),
    "error_503": (503, 0, b'{"error":"temporarily_unavailable"}'),
    "html_503": (503, 0, b"<html>Service Unavailable</html>"),
    "empty_429": (429, 0, b""),
    "truncated_400": (400, 0, b'{"error":"invalid_gr'),
    "redirect": (302, 0, b""),
    "status_99": (99, 0, TYPICAL),
    "status_600": (600, 0, TYPICAL),
    "envelope": (200, 1, b'{"code":0,"data":' + TYPICAL + b"}"),
    "envelope_missing": (200, 1, b'{"code":0}'),
    "envelope_array": (200, 2, b'{"data":[' + TYPICAL + b"]}"),
    "envelope_escaped_pointer": (200, 3, b'{"a/b":{"c~d":' + TYPICAL + b"}}"),
    "envelope_root_error": (200, 1, b'{"error":"invalid_grant","data":{}}'),
    "small_cap": (200, 4, TYPICAL),
    "renamed": (200, 8, b'{"accessToken":"A1","refreshToken":"R1","expiresIn":"7200"}'),
}

# fuzz_request_builders: FuzzedDataProvider format. Strings are consumed from
# the front ("\\" escapes the next byte, "\\" + other ends the string), the
# bool and the status from the back.
def fdp_string(s: bytes) -> bytes:
    out = b""
    for b in s:
        out += bytes([b])
        if b == 0x5C:
            out += b"\\"
    return out + b"\\x"


def builders(id_, secret, base, path, token, status=200, raw=True, body=b"") -> bytes:
    front = b"".join(fdp_string(s) for s in (id_, secret, base, path, token))
    # ConsumeBool takes the last byte, ConsumeIntegralInRange(0, 999) the two before it (high byte last).
    return front + body + struct.pack("<H", status) + bytes([1 if raw else 0])


GOOD_BODY = b'{"access_token":"A1","refresh_token":"R2","expires_in":60}'
REQUEST_BUILDERS = {
    "typical": builders(b"babel-client", b"S3cr3t+/=:%!value", b"https://disk.example.com/babel",
                        b"", b"rt+/=%Zq9-REFRESH-0123456789abcdef", 200, True, GOOD_BODY),
    "rfc6749": builders(b"id:with:colons", b"p a s s", b"https://h:8443/ctx/", b"/custom/refresh.do",
                        b"t", 200, False, GOOD_BODY),
    "loopback_http": builders(b"id", b"s", b"http://127.0.0.1:8080", b"", b"abc", 401,
                              True, b'{"error":"invalid_grant"}'),
    "ipv6_loopback": builders(b"id", b"s", b"http://[::1]:80/", b"", b"abc", 200, True, GOOD_BODY),
    "insecure": builders(b"id", b"s", b"http://disk.example.com", b"", b"abc"),
    "url_query": builders(b"id", b"s", b"https://h/x?refresh_token=t", b"", b"abc"),
    "url_userinfo": builders(b"id", b"s", b"https://u:p@h/", b"", b"abc"),
    "colon_id": builders(b"a:b", b"s", b"https://h", b"", b"abc"),
    "crlf_secret": builders(b"id", b"s\r\nX: y", b"https://h", b"", b"abc"),
    "nul_token": builders(b"id", b"s", b"https://h", b"", b"a\x00b"),
    "space_token": builders(b"id", b"s", b"https://h", b"", b"a b"),
    "utf8_token": builders(b"id", b"s", b"https://h", b"", b"caf\xc3\xa9"),
    "utf8_secret": builders(b"id", "p\u00e4ss".encode(), b"https://h", b"", b"t", 200, False, GOOD_BODY),
    "bad_utf8_id": builders(b"\xc0\xaf", b"s", b"https://h", b"", b"t"),
    "bad_path": builders(b"id", b"s", b"https://h", b"no-slash", b"t"),
    "path_escape": builders(b"id", b"s", b"https://h", b"/a%2Fb/refresh.do", b"t", 200, True, GOOD_BODY),
    "port_range": builders(b"id", b"s", b"https://h:65536", b"", b"t"),
    "echo_token": builders(b"id", b"secret", b"https://h", b"", b"abc_def", 400, True,
                           b'{"error":"abc_def"}'),
    "echo_secret": builders(b"id", b"secret", b"https://h", b"", b"tok", 400, True,
                            b'{"error":"secret"}'),
    "timeout": builders(b"id", b"s", b"https://h", b"", b"t", 0, True, b""),
    "server_error": builders(b"id", b"s", b"https://h", b"", b"t", 503, True, b"<html>busy</html>"),
}


# fuzz_callback: the flags byte comes from the back (bit 0 '+' is a space,
# bit 1 an expected data, bit 2 unused), the expected data from the front, the
# query is what remains in between.
def callback(query: bytes, expected: bytes = b"", flags: int = 1) -> bytes:
    return fdp_string(expected) + query + bytes([flags])


CALLBACK = {
    "code_only": callback(b"code=SplxlOBeZQQYbYS6WxSbIA"),
    "code_and_data": callback(b"?code=abc123&data=state-1", b"state-1", 3),
    "data_mismatch": callback(b"code=abc&data=other", b"state-1", 3),
    "data_missing": callback(b"code=abc", b"state-1", 3),
    "error_denied": callback(b"error=access_denied&error_description=User+said+no"),
    "error_unknown": callback(b"error=weird_code&code=abc"),
    "error_uppercase": callback(b"error=ACCESS_DENIED"),
    "error_temporarily": callback(b"error=temporarily_unavailable&error_uri=https%3A%2F%2Fx"),
    "duplicate_code": callback(b"code=a&code=b"),
    "duplicate_data": callback(b"code=a&data=x&data=x"),
    "empty_code": callback(b"code="),
    "no_equals": callback(b"code"),
    "plus_space": callback(b"code=a+b", b"", 1),
    "plus_raw": callback(b"code=a+b", b"", 0),
    "percent_code": callback(b"code=a%2Fb%3D%3D"),
    "bad_percent": callback(b"code=a%zz"),
    "truncated_percent": callback(b"code=a%2"),
    "encoded_crlf": callback(b"code=a%0D%0AX-Evil:1"),
    "raw_control": callback(b"code=a\tb"),
    "invalid_utf8": callback(b"code=abc&data=%C0%AF", b"", 1),
    "utf8_data": callback(b"code=abc&data=%E4%B8%AD%E6%96%87", "\u4e2d\u6587".encode(), 3),
    "empty_pieces": callback(b"&&code=abc&&"),
    "encoded_name": callback(b"c%6Fde=abc"),
    "other_params": callback(b"from=app&code=abc&lang=zh-CN"),
    "fragment": callback(b"code=abc#frag"),
    "empty": callback(b""),
}


def splitmix_bytes(seed: int, n: int) -> bytes:
    """n bytes of splitmix64 from `seed` (the randomized test's generator)."""
    out, state, mask = bytearray(), seed, (1 << 64) - 1
    while len(out) < n:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out += struct.pack("<Q", z ^ (z >> 31))
    return bytes(out[:n])


# fuzz_token_lifecycle: every byte is one choice of tests/lifecycle_model.hpp
# (the options, then per event the clock step, the event and its details), so
# any bytes are a script; these are random scripts of a few lengths.
TOKEN_LIFECYCLE = {f"script_{n}_{seed}": splitmix_bytes(seed, n)
                   for n, seed in [(16, 1), (64, 2), (200, 3), (600, 4), (1500, 5), (4000, 6)]}
# A calm run (byte 7 even: small steps, mostly successes) of many gets.
TOKEN_LIFECYCLE["calm_gets"] = bytes([1, 1, 2, 2, 0, 0, 0, 0]) + bytes([3, 0, 0] * 100)


def write(target: str, seeds: dict) -> None:
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (d / name).write_bytes(data)


def main() -> None:
    write("token_response", {k: bytes([STATUS[s], f]) + b for k, (s, f, b) in TOKEN_RESPONSE.items()})
    write("request_builders", REQUEST_BUILDERS)
    write("callback", CALLBACK)
    write("token_lifecycle", TOKEN_LIFECYCLE)


if __name__ == "__main__":
    main()
