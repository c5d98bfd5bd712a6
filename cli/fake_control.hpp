#pragma once

// The `/_fake/` control API of `babelbird-cli serve-fake`, through which the
// e2e tests (tests/e2e/cli_e2e.py) steer the loopback server from another
// process. Only for the CLI and the tests, so not in the public include tree:
// - `POST /_fake/fault?kind=answer&status=N[&content_type=T][&retry_after=V]` (body =
//   answer body; `retry_after` sets a `Retry-After` header, e.g. for 429/503),
//   `kind=hang`, `kind=oversize[&bytes=N][&chunked=1]`, `kind=redirect[&location=URL]`,
//   `kind=omit_refresh_token`, `kind=partial`, `kind=invalid_client` (401
//   `invalid_client`), `kind=rotate_reject[&bad=access_token|expires_in|missing]`
//   (the refresh token is rotated, then the 200 answer carries the new refresh
//   token next to an unusable or missing access token, or a negative `expires_in`),
//   `kind=delay&ms=N[&after_rotation=1]` (hold the next refresh answer N ms,
//   before checking the token, or after rotating it);
// - `POST /_fake/file-fault?status=N` (body = answer body): the next file-API
//   request, after its token check, gets that answer;
// - `POST /_fake/rotation?enabled=0|1`, `POST /_fake/advance?seconds=N`,
//   `POST /_fake/echo?enabled=0|1`, `POST /_fake/strict?revoke_family=0|1` (a
//   reused rotated refresh token revokes its family), `POST
//   /_fake/reuse-grace?ms=N` (a retired refresh token presented within N ms of
//   its rotation is accepted once more and rotated; 0: none), `POST
//   /_fake/access-lifetime?seconds=N` (for tokens issued from now on);
// - `POST /_fake/refresh-token` (body = a refresh token to accept);
// - `GET  /_fake/requests` (the recorded requests as JSON), `GET
//   /_fake/redemptions` (`{"now":S,"latest_refresh":FP,"redemptions":[{"seq",
//   "at","presented","outcome","issued","family_revoked"}...]}`: the server's
//   time in seconds since the epoch and token fingerprints, never a token;
//   outcome is rotated, kept, grace, reused, revoked, unknown, fault or rejected),
//   `POST /_fake/clear` (requests, faults and redemptions).
// Control requests are not recorded.

#include <babelbird/testing/fake_server.hpp>

namespace cli {

/// Answers `r` when it is a `/_fake/` control request (true), else leaves it to
/// the server (false). Installed as `fake_server_options::intercept`.
bool fake_control(babelbird::testing::fake_server& server,
                  const babelbird::testing::recorded_request& r, httplib::Response& res);

} // namespace cli
