// libFuzzer target: the encoding primitives.
// - decode(encode(x)) == x for any bytes: Base64, percent-encoding, form encoding;
// - decoding arbitrary input never crashes, and strict Base64 is canonical:
//   encode(decode(y)) == y whenever decode(y) succeeds;
// - percent-decoding fails exactly on a '%' not followed by two hex digits;
// - the sizes the constexpr helpers predict are the sizes written;
// - the UTF-8 validator agrees with a straightforward reference decoder.
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bd = babelbird::detail;

namespace {

bool is_hex(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/// Whether every '%' starts a two-hex-digit escape.
bool percent_escapes_valid(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
                return false;
            }
            i += 2;
        }
    }
    return true;
}

/// RFC 3629 by decoding code points: shortest form, no surrogates, <= U+10FFFF.
bool reference_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (s.size() - i < len) {
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            const auto ck = static_cast<unsigned char>(s[i + k]);
            if ((ck & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (ck & 0x3Fu);
        }
        const std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += len;
    }
    return true;
}

void round_trips(std::string_view x) {
    const std::string b64 = babelbird::base64_encode(x);
    FUZZ_CHECK(b64.size() == bd::base64_encoded_size(x.size()));
    const auto b64_back = babelbird::base64_decode(b64);
    FUZZ_CHECK(b64_back.has_value());
    FUZZ_CHECK(*b64_back == x);

    const std::string pct = babelbird::percent_encode(x);
    FUZZ_CHECK(pct.size() == bd::percent_encoded_size(x));
    for (char ch : pct) {
        FUZZ_CHECK(bd::is_unreserved(ch) || ch == '%' || (ch >= 'A' && ch <= 'F'));
    }
    const auto pct_back = babelbird::percent_decode(pct);
    FUZZ_CHECK(pct_back.has_value());
    FUZZ_CHECK(*pct_back == x);

    const std::string form = babelbird::form_encode(x);
    FUZZ_CHECK(form.size() == bd::form_encoded_size(x));
    std::string form_back(form.size(), '\0');
    const auto r = bd::percent_decode_to(form, form_back.data(), true);
    FUZZ_CHECK(r.ok);
    form_back.resize(r.size);
    FUZZ_CHECK(form_back == x);
}

void decodes(std::string_view y) {
    const auto b64 = babelbird::base64_decode(y);
    if (b64) {
        FUZZ_CHECK(b64->size() <= bd::base64_decoded_max_size(y.size()));
        FUZZ_CHECK(babelbird::base64_encode(*b64) == y); // canonical: one encoding per value
    } else {
        FUZZ_CHECK(b64.error().code() == babelbird::errc::invalid_argument);
        FUZZ_CHECK(b64.error().kind() == babelbird::error_class::usage);
    }

    const auto pct = babelbird::percent_decode(y);
    FUZZ_CHECK(pct.has_value() == percent_escapes_valid(y));
    if (pct) {
        FUZZ_CHECK(pct->size() <= y.size());
        FUZZ_CHECK(babelbird::percent_decode(babelbird::percent_encode(*pct)).value() == *pct);
    }
    // In place (out aliases in), as the contract allows.
    std::string in_place(y);
    const auto r = bd::percent_decode_to(in_place, in_place.data(), true);
    FUZZ_CHECK(r.ok == percent_escapes_valid(y));

    FUZZ_CHECK(bd::is_valid_utf8(y) == reference_utf8(y));
    FUZZ_CHECK(bd::is_header_safe_token(y) == (!y.empty() && [&] {
                   for (char ch : y) {
                       if (ch < 0x21 || ch > 0x7E) {
                           return false;
                       }
                   }
                   return true;
               }()));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    round_trips(input);
    decodes(input);
    return 0;
}
