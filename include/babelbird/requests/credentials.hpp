/// @file requests/credentials.hpp
/// @brief Client credentials and the `Authorization: Basic` value of the token endpoints.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <string>
#include <string_view>

#include "babelbird/encoding/base64.hpp"
#include "babelbird/encoding/percent.hpp"
#include "babelbird/encoding/utf8.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/result.hpp"
#include "babelbird/values/secret.hpp"
#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1 {

/// How the client id and secret become the Basic credentials.
enum class basic_encoding {
    /// `Base64(client_id ":" client_secret)`, as the BabelBird documentation says
    /// (RFC 7617). The client id cannot contain ':'.
    raw,
    /// RFC 6749 section 2.3.1: form-encode both parts first, then Base64.
    rfc6749,
};

/// A client id and its secret, validated once.
class client_credentials {
    // Defined first: the public members below deduce their types from these.
    /// Calls `sink(size, fill)` where `fill(char*)` writes the header value.
    template <class Sink>
    auto produce(Sink&& sink) const {
        const std::string_view pass = secret_.expose_secret();
        if (encoding_ == basic_encoding::raw) {
            return emit(id_, pass, sink);
        }
        std::string id(detail::form_encoded_size(id_), '\0');
        detail::form_encode_to(id_, id.data());
        std::string pw(detail::form_encoded_size(pass), '\0');
        detail::form_encode_to(pass, pw.data());
        auto out = emit(id, pw, sink);
        detail::scrub(pw);
        return out;
    }

    /// Encodes `"Basic " Base64(id ":" pass)` straight into the sink's buffer, so
    /// the joined plaintext never sits in a buffer of its own.
    template <class Sink>
    static auto emit(std::string_view id, std::string_view pass, Sink& sink) {
        constexpr std::string_view prefix = "Basic ";
        const std::size_t joined = id.size() + 1 + pass.size();
        return sink(prefix.size() + detail::base64_encoded_size(joined), [&](char* w) {
            for (char ch : prefix) {
                *w++ = ch;
            }
            // Whole groups of the id, then the group that straddles the ':',
            // then the rest of the secret.
            const std::size_t head = id.size() / 3 * 3;
            w = detail::base64_encode_to(id.substr(0, head), w);
            char group[3];
            std::size_t filled = 0;
            std::size_t p = 0;
            for (char ch : id.substr(head)) {
                group[filled++] = ch;
            }
            group[filled++] = ':';
            while (filled < 3 && p < pass.size()) {
                group[filled++] = pass[p++];
            }
            w = detail::base64_encode_to(std::string_view(group, filled), w);
            detail::secure_zero(group, sizeof group);
            detail::base64_encode_to(pass.substr(p), w);
        });
    }

public:
    /// Validates and stores the pair.
    /// @returns `errc::empty_client_id`; `errc::colon_in_client_id` (raw mode);
    /// `errc::control_character` for CR, LF, NUL or any other control byte in
    /// either part; `errc::invalid_utf8`. All of class `usage`.
    static result<client_credentials> make(std::string_view client_id,
                                           std::string_view client_secret,
                                           basic_encoding encoding = basic_encoding::raw) {
        if (client_id.empty()) {
            return error::usage(errc::empty_client_id);
        }
        if (detail::has_control(client_id) || detail::has_control(client_secret)) {
            return error::usage(errc::control_character);
        }
        if (!detail::is_valid_utf8(client_id) || !detail::is_valid_utf8(client_secret)) {
            return error::usage(errc::invalid_utf8);
        }
        if (encoding == basic_encoding::raw && client_id.find(':') != std::string_view::npos) {
            return error::usage(errc::colon_in_client_id);
        }
        return client_credentials(client_id, client_secret, encoding);
    }

    std::string_view client_id() const noexcept { return id_; }
    secret_view client_secret() const noexcept { return secret_.view(); }
    basic_encoding encoding() const noexcept { return encoding_; }

    /// The whole header value, `Basic <base64>`, as a secret, in one allocation
    /// (raw mode).
    secret basic_authorization() const {
        return produce([](std::size_t size, auto&& fill) { return secret::build(size, fill); });
    }

    /// The same value as a plain string, for an `http_request` header (which is
    /// zeroed when the request is destroyed). One allocation in raw mode.
    std::string basic_authorization_string() const {
        return produce([](std::size_t size, auto&& fill) {
            std::string out(size, '\0');
            fill(out.data());
            return out;
        });
    }

private:
    client_credentials(std::string_view id, std::string_view pass, basic_encoding encoding)
        : id_(id), secret_(pass), encoding_(encoding) {}

    std::string id_;
    secret secret_;
    basic_encoding encoding_;
};

} // namespace babelbird::inline v1
