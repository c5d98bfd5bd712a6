#include "fake_control.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>

namespace cli {
namespace {

namespace bt = babelbird::testing;

void send_json(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(body, "application/json;charset=UTF-8");
}

std::string requests_json(const bt::fake_server& server) {
    std::string out = "[";
    for (const auto& r : server.requests()) {
        if (out.size() > 1) {
            out += ',';
        }
        out += "{\"method\":" + bt::detail::json_string(r.method) +
               ",\"path\":" + bt::detail::json_string(r.path) +
               ",\"query\":" + bt::detail::json_string(r.query) + ",\"params\":[";
        for (std::size_t i = 0; i < r.params.size(); ++i) {
            out += (i ? ",[" : "[") + bt::detail::json_string(r.params[i].first) + "," +
                   bt::detail::json_string(r.params[i].second) + "]";
        }
        out += "],\"headers\":[";
        for (std::size_t i = 0; i < r.headers.size(); ++i) {
            out += (i ? ",[" : "[") + bt::detail::json_string(r.headers[i].first) + "," +
                   bt::detail::json_string(r.headers[i].second) + "]";
        }
        out += "],\"body\":" + bt::detail::json_string(r.body) + "}";
    }
    out += "]";
    return out;
}

/// The redemption log (fingerprints only, never a token) and the server's state.
std::string redemptions_json(const bt::fake_server& server) {
    const auto seconds = [](std::chrono::system_clock::time_point t) {
        return std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
    };
    const std::string latest = server.latest_refresh_token();
    std::string out = "{\"now\":" + seconds(server.now()) + ",\"latest_refresh\":" +
                      bt::detail::json_string(latest.empty() ? "" : bt::token_fingerprint(latest)) +
                      ",\"redemptions\":[";
    bool first = true;
    for (const auto& e : server.redemptions()) {
        out += first ? "" : ",";
        first = false;
        out += "{\"seq\":" + std::to_string(e.sequence) + ",\"at\":" + seconds(e.at) +
               ",\"presented\":" + bt::detail::json_string(e.presented) +
               ",\"outcome\":" + bt::detail::json_string(bt::redemption::name(e.result)) +
               ",\"issued\":" + bt::detail::json_string(e.issued) +
               ",\"family_revoked\":" + (e.family_revoked ? "true" : "false") + "}";
    }
    out += "]}";
    return out;
}

void control(bt::fake_server& server, const bt::recorded_request& r, httplib::Response& res) {
    const std::string what = r.path.substr(7);
    const auto number = [&](std::string_view name, long long fallback) {
        const auto v = r.param(name);
        if (!v || v->empty()) {
            return fallback;
        }
        try {
            return std::stoll(*v);
        } catch (...) {
            return fallback;
        }
    };
    if (what == "requests" && r.method == "GET") {
        send_json(res, 200, requests_json(server));
        return;
    }
    if (what == "redemptions" && r.method == "GET") {
        send_json(res, 200, redemptions_json(server));
        return;
    }
    if (r.method != "POST") {
        send_json(res, 405, R"({"error":"method_not_allowed"})");
        return;
    }
    if (what == "fault") {
        const std::string kind = r.param("kind").value_or("answer");
        bt::fault f;
        if (kind == "answer") {
            f = bt::fault::answer(static_cast<int>(number("status", 200)), r.body,
                                  r.param("content_type").value_or("application/json"));
            f.retry_after = r.param("retry_after").value_or("");
        } else if (kind == "hang") {
            f = bt::fault::of(bt::fault::kind::hang);
        } else if (kind == "oversize") {
            f = bt::fault::of(bt::fault::kind::oversize);
            f.bytes = static_cast<std::size_t>(
                std::max(64LL, number("bytes", static_cast<long long>(f.bytes))));
            f.chunked = number("chunked", 0) != 0;
        } else if (kind == "redirect") {
            f = bt::fault::of(bt::fault::kind::redirect);
            f.location = r.param("location").value_or(f.location);
        } else if (kind == "omit_refresh_token") {
            f = bt::fault::of(bt::fault::kind::omit_refresh_token);
        } else if (kind == "partial") {
            f = bt::fault::of(bt::fault::kind::partial);
        } else if (kind == "invalid_client") {
            f = bt::fault::of(bt::fault::kind::invalid_client);
        } else if (kind == "delay") {
            f = bt::fault::of(bt::fault::kind::delay);
            f.delay = std::chrono::milliseconds(std::max(0LL, number("ms", 1000)));
            f.after_rotation = number("after_rotation", 0) != 0;
        } else if (kind == "rotate_reject") {
            f = bt::fault::of(bt::fault::kind::rotate_reject);
            f.bad_field = r.param("bad").value_or("access_token");
        } else {
            send_json(res, 400, R"({"error":"unknown fault kind"})");
            return;
        }
        server.push_fault(std::move(f));
    } else if (what == "rotation") {
        server.set_rotation(number("enabled", 1) != 0);
    } else if (what == "strict") {
        server.set_revoke_family_on_reuse(number("revoke_family", 1) != 0);
    } else if (what == "reuse-grace") {
        server.set_reuse_grace(std::chrono::milliseconds(number("ms", 0)));
    } else if (what == "access-lifetime") {
        server.set_access_token_lifetime(std::chrono::seconds(number("seconds", 3600)));
    } else if (what == "echo") {
        server.set_echo(number("enabled", 1) != 0);
    } else if (what == "file-fault") {
        server.push_file_fault(static_cast<int>(number("status", 500)), r.body);
    } else if (what == "advance") {
        server.advance(std::chrono::seconds(number("seconds", 0)));
    } else if (what == "refresh-token") {
        if (r.body.empty()) {
            send_json(res, 400, R"({"error":"empty token"})");
            return;
        }
        server.add_refresh_token(r.body);
    } else if (what == "clear") {
        server.clear_requests();
        server.clear_faults();
        server.clear_redemptions();
    } else {
        send_json(res, 404, R"({"error":"not_found"})");
        return;
    }
    send_json(res, 200, R"({"ok":true})");
}

} // namespace

bool fake_control(bt::fake_server& server, const bt::recorded_request& r, httplib::Response& res) {
    if (r.path.rfind("/_fake/", 0) != 0) {
        return false;
    }
    control(server, r, res);
    return true;
}

} // namespace cli
