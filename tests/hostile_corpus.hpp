// The hostile-input corpus (tests/hostile/): loading the manifest and the
// bodies, including the large ones generated at test time. Shared by
// test_hostile.cpp and test_secret_hygiene.cpp.
#pragma once

#include <babelbird/babelbird.hpp>

#include <cstddef>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef BABELBIRD_HOSTILE_DIR
#error "tests/meson.build defines BABELBIRD_HOSTILE_DIR, the directory of manifest.tsv"
#endif

namespace hostile {

struct entry {
    std::string file;
    int status = 0;
    std::string expected_class; ///< "ok" or an error_class name
    std::string expected_code;  ///< an errc name, or "-"
    std::string envelope;       ///< from the options column "envelope=/pointer"
    std::string body;
};

/// A token-like filler that is header-safe.
inline std::string filler(std::size_t n, char ch) {
    return std::string(n, ch);
}

/// The bodies too large to commit, by name.
inline bool generate(std::string_view name, std::string& body) {
    const std::string a = R"("access_token":"at.HOSTILE-0123456789")";
    constexpr std::size_t cap = std::size_t{1} << 20;
    if (name == "gen:huge_access_token_512k") {
        body = R"({"access_token":")" + filler(512 * 1024, 'A') + "\"}";
    } else if (name == "gen:huge_unknown_string_900k") {
        body = "{" + a + R"(,"x":")" + filler(900 * 1024, 'x') + "\"}";
    } else if (name == "gen:huge_error_description_escaped") {
        body = R"({"error":"invalid_grant","error_description":")";
        for (int i = 0; i < 100000; ++i) {
            body += "\\u0041";
        }
        body += "\"}";
    } else if (name == "gen:many_unknown_fields") {
        body = "{" + a;
        for (int i = 0; i < 50000; ++i) {
            body += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
        }
        body += "}";
    } else if (name == "gen:body_at_cap" || name == "gen:body_over_cap" ||
               name == "gen:body_over_cap_503") {
        const std::string head = "{" + a + R"(,"pad":")";
        const std::string tail = "\"}";
        const std::size_t size = name == "gen:body_at_cap" ? cap : cap + 1;
        body = head + filler(size - head.size() - tail.size(), 'p') + tail;
    } else if (name == "gen:deep_2000") {
        body = "{" + a + ",\"x\":" + std::string(2000, '[') + std::string(2000, ']') + "}";
    } else if (name == "gen:huge_number_unknown") {
        body = "{" + a + ",\"x\":" + filler(1000, '7') + "}";
    } else {
        return false;
    }
    return true;
}

inline std::string read_file(const std::string& path, bool& ok) {
    std::ifstream in(path, std::ios::binary);
    ok = static_cast<bool>(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Every manifest row with its body; `problems` lists rows that could not be loaded.
inline std::vector<entry> load(std::vector<std::string>& problems) {
    const std::string dir = BABELBIRD_HOSTILE_DIR;
    bool ok = false;
    const std::string manifest = read_file(dir + "/manifest.tsv", ok);
    if (!ok) {
        problems.push_back("cannot read " + dir + "/manifest.tsv");
    }
    std::vector<entry> entries;
    std::istringstream lines(manifest);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::vector<std::string> cols;
        std::istringstream fields(line);
        std::string col;
        while (std::getline(fields, col, '\t')) {
            cols.push_back(col);
        }
        if (cols.size() != 5) {
            problems.push_back("malformed manifest line: " + line);
            continue;
        }
        entry e;
        e.file = cols[0];
        e.status = std::stoi(cols[1]);
        e.expected_class = cols[2];
        e.expected_code = cols[3];
        if (cols[4].rfind("envelope=", 0) == 0) {
            e.envelope = cols[4].substr(9);
        }
        if (e.file.rfind("gen:", 0) == 0) {
            if (!generate(e.file, e.body)) {
                problems.push_back("unknown generated entry " + e.file);
                continue;
            }
        } else {
            e.body = read_file(dir + "/" + e.file, ok);
            if (!ok) {
                problems.push_back("cannot read " + e.file);
                continue;
            }
        }
        entries.push_back(std::move(e));
    }
    return entries;
}

/// The errc names the corpus uses.
inline std::string_view errc_name(babelbird::errc c) {
    using babelbird::errc;
    switch (c) {
    case errc::oauth_error_response:
        return "oauth_error_response";
    case errc::unexpected_status:
        return "unexpected_status";
    case errc::redirect:
        return "redirect";
    case errc::body_too_large:
        return "body_too_large";
    case errc::invalid_json:
        return "invalid_json";
    case errc::not_an_object:
        return "not_an_object";
    case errc::trailing_content:
        return "trailing_content";
    case errc::envelope_not_found:
        return "envelope_not_found";
    case errc::missing_access_token:
        return "missing_access_token";
    case errc::invalid_token:
        return "invalid_token";
    case errc::invalid_expires_in:
        return "invalid_expires_in";
    case errc::invalid_field_type:
        return "invalid_field_type";
    case errc::duplicate_field:
        return "duplicate_field";
    case errc::case_variant_field:
        return "case_variant_field";
    case errc::nesting_too_deep:
        return "nesting_too_deep";
    default:
        return "(not a parser code)";
    }
}

} // namespace hostile
