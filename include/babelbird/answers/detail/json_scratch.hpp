/// @file answers/detail/json_scratch.hpp
/// @brief The per-thread state of a parse: the padded copy of the body, the
/// reused simdjson parser, the envelope lookup, and the zeroing of every
/// byte a parse copied (`json_scratch`, `scratch_guard`).
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <simdjson.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "babelbird/answers/detail/token_object.hpp"
#include "babelbird/answers/detail/unescape_arena.hpp"
#include "babelbird/answers/response_options.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/errc.hpp"
#include "babelbird/values/secure_zero.hpp"

namespace babelbird::inline v1::detail {

/// A per-thread padded copy of the body, the unescape arena and a reused
/// parser: after the first call, parsing allocates nothing but the result.
///
/// Secret hygiene (docs/design.md, "Policies", secrets) rests only on memory
/// this library owns: the body copy and the arena are zeroed after every
/// parse. simdjson is only asked for structure and raw token positions
/// (`raw_json_token`, `key().raw()`, types, iteration, `at_pointer`, which
/// matches raw keys); it is never asked to unescape, so its string buffer
/// never receives a byte of the body (test_secret_hygiene.cpp proves it by
/// watching the parser's freed blocks).
class json_scratch {
public:
    static json_scratch& for_this_thread() noexcept {
        thread_local json_scratch scratch;
        return scratch;
    }

    /// Walks `body` and fills `out`; the views in `out` stay valid until `release`.
    errc parse(std::string_view body, const response_options& options, token_fields& out) {
        if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") {
            body.remove_prefix(3); // forgiving: some servers prefix a UTF-8 BOM
        }
        const std::size_t need = body.size() + simdjson::SIMDJSON_PADDING;
        if (need > capacity_) {
            buffer_ = std::make_unique<char[]>(need);
            capacity_ = need;
        }
        std::memcpy(buffer_.get(), body.data(), body.size());
        std::memset(buffer_.get() + body.size(), ' ', simdjson::SIMDJSON_PADDING);
        used_ = body.size();
        unescape_arena::for_this_thread().prepare(body.size());

        simdjson::ondemand::document doc;
        if (parser_.iterate(buffer_.get(), body.size(), capacity_).get(doc) != simdjson::SUCCESS) {
            return errc::invalid_json;
        }
        simdjson::ondemand::object root;
        const auto root_error = doc.get_object().get(root);
        if (root_error != simdjson::SUCCESS) {
            return root_error == simdjson::INCORRECT_TYPE && starts_json_value(body)
                       ? errc::not_an_object
                       : errc::invalid_json;
        }
        const bool enveloped = !options.envelope.empty();
        const char* const end = buffer_.get() + capacity_;
        if (errc e = walk_object(root, options, out, enveloped, end); e != errc{}) {
            return e;
        }
        if (errc e = check_end(doc); e != errc{}) {
            return e;
        }
        if (!enveloped || out.has_error) {
            return errc{};
        }
        simdjson::ondemand::value target;
        if (doc.at_pointer(options.envelope).get(target) != simdjson::SUCCESS) {
            return errc::envelope_not_found;
        }
        simdjson::ondemand::object inner;
        if (target.get_object().get(inner) != simdjson::SUCCESS) {
            return errc::not_an_object;
        }
        token_fields enveloped_fields;
        if (errc e = walk_object(inner, options, enveloped_fields, false, end); e != errc{}) {
            return e;
        }
        out = std::move(enveloped_fields);
        return errc{};
    }

    /// Zeros what the parse left in this thread's buffers (the body copy and
    /// the unescaped strings), and gives back memory grown for an unusually
    /// large body.
    void release(const token_fields& fields) noexcept {
        scrub_view(fields.access);
        scrub_view(fields.refresh);
        secure_zero(buffer_.get(), used_);
        used_ = 0;
        unescape_arena::for_this_thread().release(2 * keep_capacity);
        if (capacity_ > keep_capacity) {
            buffer_.reset();
            capacity_ = 0;
            parser_ = simdjson::ondemand::parser{};
        }
    }

    /// For tests and fuzzers: the memory a parse copies body bytes into.
    /// `body_copy` is the padded copy of the body, `strings` the unescape
    /// arena (both zero-initialised when allocated and zeroed by `release`).
    /// Both views end at the next parse.
    struct memory_view {
        std::span<char> body_copy;
        std::span<char> strings;
    };
    memory_view memory_for_testing() noexcept {
        return {std::span<char>(buffer_.get(), capacity_),
                unescape_arena::for_this_thread().memory_for_testing()};
    }

private:
    static constexpr std::size_t keep_capacity = 64 * 1024;

    /// Whether the first non-space byte can start a JSON value: tells "a JSON
    /// array" (not an object) from "an HTML page" (not JSON at all).
    static bool starts_json_value(std::string_view body) noexcept {
        for (char ch : body) {
            if (!is_json_space(ch)) {
                return ch == '[' || ch == '"' || ch == '-' || is_digit(ch) || ch == 't' ||
                       ch == 'f' || ch == 'n';
            }
        }
        return false;
    }

    static errc check_end(simdjson::ondemand::document& doc) noexcept {
        const char* location = nullptr;
        const auto e = doc.current_location().get(location);
        if (e == simdjson::OUT_OF_BOUNDS) {
            return errc{};
        }
        return e == simdjson::SUCCESS ? errc::trailing_content : errc::invalid_json;
    }

    /// The views point into buffers this library owns (the body copy or the
    /// unescape arena), which are not const objects.
    static void scrub_view(std::string_view v) noexcept {
        if (!v.empty()) {
            secure_zero(const_cast<char*>(v.data()), v.size());
        }
    }

    simdjson::ondemand::parser parser_;
    std::unique_ptr<char[]> buffer_;
    std::size_t capacity_ = 0;
    std::size_t used_ = 0;
};

/// Zeros the scratch buffers when the parse is over, whatever path it took.
class scratch_guard {
public:
    scratch_guard(json_scratch& scratch, const token_fields& fields) noexcept
        : scratch_(scratch), fields_(fields) {}
    scratch_guard(const scratch_guard&) = delete;
    scratch_guard& operator=(const scratch_guard&) = delete;
    ~scratch_guard() { scratch_.release(fields_); }

private:
    json_scratch& scratch_;
    const token_fields& fields_;
};

} // namespace babelbird::inline v1::detail
