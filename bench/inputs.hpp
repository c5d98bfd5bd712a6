// The inputs shared by every implementation, and what each must extract.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bench::inputs {

/// A typical answer: 32-64-character tokens, a scope, both lifetimes; 236 bytes.
inline constexpr std::string_view typical =
    R"json({"access_token":"ya29a0AfB_byC7kQ2xM9vP4rT8sW1nL6hJ3dF5gK0e","token_type":"bearer","refresh_token":"1//0gLmN3pQ7rS9tU2vW4xY6zA8bC0dE1fG3hI5jK7lM9nO2q","expires_in":3600,"refresh_expires_in":2592000,"scope":"files:read files:write user"})json";
static_assert(typical.size() == 236, "the typical input is 236 bytes");

/// About 1 KB: unknown nested objects, arrays, numbers, escapes, a string expires_in.
inline constexpr std::string_view extra =
    R"json({"code":0,"message":"ok","access_token":"b7e1c9d2-5f3a-4e8b-9a6c-0d1e2f3a4b5c.Xq9ZkP2mR7tV4wY1","token_type":"bearer","expires_in":"7200","refresh_token":"r1.Hk8Jm3Nq6Tw9Zc2Fv5Bx7Lp0Sd4Gh1Ky","scope":"files:read files:write share:create user:read","user":{"id":"u-7f3a9c2e41d84b6f","name":"Zhang Wei \u5f20\u4f1f","email":"zhang.wei@example.com","roles":["editor","uploader","reviewer"],"department":{"id":42,"path":["Example Corp","R&D","Docs Platform"],"manager":null},"quota":{"total":107374182400,"used":53687091200,"ratio":0.5,"unlimited":false}},"tenant":{"id":"example-corp","region":"cn-east-2","features":{"watermark":true,"preview":{"office":true,"cad":false,"max_mb":200},"retention_days":180}},"server":{"version":"7.3.12-build.2026.01.15","node":"app-03","time":1789996400123,"tz":"+08:00"},"links":[{"rel":"self","href":"https://disk.example.com/babel/api/user/me"},{"rel":"files","href":"https://disk.example.com/babel/api/v2/files?view=list&page=1"}],"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","notice":"Tokens are \"opaque\"; do not parse them.\nThanks.","flags":[1,2.5,-3e2,true,null]})json";

/// A 900-character JWT as the access token.
inline constexpr std::string_view jwt =
    R"json({"access_token":"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImJhYmVsYmlyZC0yMDI2LTAxIn0.eyJpc3MiOiJodHRwczovL2Rpc2suZXhhbXBsZS5jb20vYmFiZWwiLCJzdWIiOiJ1LTdmM2E5YzJlNDFkODRiNmYiLCJhdWQiOiJiYl9jbGllbnRfN2YzYTljMmU0MWQ4NGI2ZiIsImV4cCI6MTc5MDAwMDAwMCwiaWF0IjoxNzg5OTk2NDAwLCJzY29wZSI6ImZpbGVzOnJlYWQgZmlsZXM6d3JpdGUgdXNlciIsInRlbmFudCI6ImV4YW1wbGUtY29ycCIsInJvbGVzIjpbImVkaXRvciIsInVwbG9hZGVyIl0sImp0aSI6IjBiOGY2YzFlLTRkMmEtNGY3ZS05YzNiLTVhMWQyZTNmNGE1YiJ9.X-zrZv_IbzjZUnhsbWlsecLbwjndTpG0ZynXOif7V-lrhrJz_zT84Z1rgE7_Wj9XR62k6qIvHUnAHlLdt4dbS9RzXjomXhbu4D9ZcYubXQMBnAfYtsUfkNo6Zm7sE6s1TgdAhWK-24tgzgXB3s_jrRa3IjCWfeAfZAt-Rym0n85LInd31N0fxhxviE9IZB0CtNEh0_0yjLCLVTH8rNq_iu8tEn3je5QrqtBhReVLDGGaHyIyey67z77Hj1Vkr-Od5_bAEXdujbfNMwtUF0_Xb30CFrYSOHpf_PuB5vCRloN5Ammb5CyKjkb7u0UBcmUX6GsixWoYn3YlptpJCBskUSxiQjLN0iF3EpTfuzEKygAKDfasi2a2ltkO8G_e-2SjGVgeJ9587QD_HOULIEfnpWfHaxy666vl7wP3wwF7tbdKRNwVNkIEqA_oDpA5RVzBYIKBgg_isk8eUjO","token_type":"Bearer","expires_in":3600,"refresh_token":"def50200a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829","scope":"files:read files:write user"})json";

/// What a correct parse of each input yields.
struct expected_token {
    std::string_view body;
    std::string_view access, refresh, type, scope;
    std::optional<std::uint64_t> expires_in, refresh_expires_in;
};

inline constexpr std::string_view jwt_access_token =
    R"(eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImJhYmVsYmlyZC0yMDI2LTAxIn0.eyJpc3MiOiJodHRwczovL2Rpc2suZXhhbXBsZS5jb20vYmFiZWwiLCJzdWIiOiJ1LTdmM2E5YzJlNDFkODRiNmYiLCJhdWQiOiJiYl9jbGllbnRfN2YzYTljMmU0MWQ4NGI2ZiIsImV4cCI6MTc5MDAwMDAwMCwiaWF0IjoxNzg5OTk2NDAwLCJzY29wZSI6ImZpbGVzOnJlYWQgZmlsZXM6d3JpdGUgdXNlciIsInRlbmFudCI6ImV4YW1wbGUtY29ycCIsInJvbGVzIjpbImVkaXRvciIsInVwbG9hZGVyIl0sImp0aSI6IjBiOGY2YzFlLTRkMmEtNGY3ZS05YzNiLTVhMWQyZTNmNGE1YiJ9.X-zrZv_IbzjZUnhsbWlsecLbwjndTpG0ZynXOif7V-lrhrJz_zT84Z1rgE7_Wj9XR62k6qIvHUnAHlLdt4dbS9RzXjomXhbu4D9ZcYubXQMBnAfYtsUfkNo6Zm7sE6s1TgdAhWK-24tgzgXB3s_jrRa3IjCWfeAfZAt-Rym0n85LInd31N0fxhxviE9IZB0CtNEh0_0yjLCLVTH8rNq_iu8tEn3je5QrqtBhReVLDGGaHyIyey67z77Hj1Vkr-Od5_bAEXdujbfNMwtUF0_Xb30CFrYSOHpf_PuB5vCRloN5Ammb5CyKjkb7u0UBcmUX6GsixWoYn3YlptpJCBskUSxiQjLN0iF3EpTfuzEKygAKDfasi2a2ltkO8G_e-2SjGVgeJ9587QD_HOULIEfnpWfHaxy666vl7wP3wwF7tbdKRNwVNkIEqA_oDpA5RVzBYIKBgg_isk8eUjO)";
static_assert(jwt_access_token.size() == 900, "the JWT is 900 characters");

inline constexpr expected_token expected[] = {
    {typical, "ya29a0AfB_byC7kQ2xM9vP4rT8sW1nL6hJ3dF5gK0e",
     "1//0gLmN3pQ7rS9tU2vW4xY6zA8bC0dE1fG3hI5jK7lM9nO2q", "bearer", "files:read files:write user",
     3600, 2592000},
    {extra, "b7e1c9d2-5f3a-4e8b-9a6c-0d1e2f3a4b5c.Xq9ZkP2mR7tV4wY1",
     "r1.Hk8Jm3Nq6Tw9Zc2Fv5Bx7Lp0Sd4Gh1Ky", "bearer",
     "files:read files:write share:create user:read", 7200, std::nullopt},
    {jwt, jwt_access_token, "def50200a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829", "Bearer",
     "files:read files:write user", 3600, std::nullopt},
};

/// The names of the inputs, in the order of `expected`.
inline constexpr std::string_view names[] = {"typical", "extra", "jwt"};

// Request side: (client id, client secret, refresh token) per input.
struct request_input {
    std::string_view client_id, client_secret, refresh_token;
};

inline constexpr request_input requests[] = {
    // typical: a generated id and secret, an opaque refresh token with '/'.
    {"bb_client_7f3a9c2e41d84b6f", "s3cr3t-Qm9ZkP2mR7tV4wY1Xq8JHk3Nn6Tw9Zc2",
     "1//0gLmN3pQ7rS9tU2vW4xY6zA8bC0dE1fG3hI5jK7lM9nO2q"},
    // extra: a secret and a standard-Base64 token full of bytes that need escaping.
    {"bb_client_7f3a9c2e41d84b6f", "p+a/s=s:w%o!r d~x_y.z*Q9ZkP2mR7tV4wY1",
     "aGVsbG8+d29ybGQ/Zm9vYmFy+/+/LzEyMzQ1Njc4OTA=YWJjZGVmZ2hpams+bG1ub3A/cXJzdA=="},
    // jwt: a 900-character JWT as the refresh token.
    {"bb_client_7f3a9c2e41d84b6f", "s3cr3t-Qm9ZkP2mR7tV4wY1Xq8JHk3Nn6Tw9Zc2", jwt_access_token},
};

inline constexpr std::string_view base_url = "https://disk.example.com/babel";
inline constexpr std::string_view refresh_path = "/api/refreshToken.do";

} // namespace bench::inputs
