/// @file requests/endpoint.hpp
/// @brief The server's base URL (with optional context path) and its endpoint paths.
#pragma once

#include "babelbird/config/compiler_check.hpp"

#include <string>
#include <string_view>

#include "babelbird/encoding/url.hpp"
#include "babelbird/values/ascii.hpp"
#include "babelbird/values/result.hpp"

namespace babelbird::inline v1 {

/// Endpoint paths, relative to the base URL. Deployments may move them.
struct endpoint_paths {
    std::string refresh = "/api/refreshToken.do";
    std::string token = "/api/token.do";
    std::string authorize = "/api/authorize.do";
    std::string authorize_jwt = "/api/authorizeByJWT.do";
};

/// A validated base URL such as `https://disk.example.com/babel`, plus paths.
class endpoint {
public:
    /// Validates `base_url`: absolute; https, or http only for a loopback host
    /// (127.0.0.0/8, [::1], localhost); no user info, query or fragment. Trailing
    /// slashes are removed. Every path must start with '/' and hold only URL path
    /// characters.
    /// @returns `errc::invalid_url`, `errc::insecure_url`, `errc::control_character`
    /// or `errc::invalid_path`, all of class `usage`.
    static result<endpoint> make(std::string_view base_url, endpoint_paths paths = {}) {
        auto parts = detail::parse_base_url(base_url);
        if (!parts) {
            return parts.error();
        }
        for (const std::string* p :
             {&paths.refresh, &paths.token, &paths.authorize, &paths.authorize_jwt}) {
            if (p->empty() || p->front() != '/' || !detail::is_valid_path(*p)) {
                return error::usage(errc::invalid_path);
            }
        }
        endpoint e;
        e.base_.reserve(base_url.size());
        for (char ch : parts->scheme) {
            e.base_ += detail::to_lower(ch);
        }
        e.base_ += "://";
        e.base_ += parts->authority;
        e.base_ += parts->path;
        e.host_size_ = parts->host.size();
        e.host_offset_ = parts->scheme.size() + 3;
        e.loopback_ = parts->loopback;
        e.paths_ = std::move(paths);
        return e;
    }

    /// The normalised base URL: lower-case scheme, no trailing slash.
    std::string_view base_url() const noexcept { return base_; }
    std::string_view host() const noexcept {
        return std::string_view(base_).substr(host_offset_, host_size_);
    }
    bool is_loopback() const noexcept { return loopback_; }
    const endpoint_paths& paths() const noexcept { return paths_; }

    /// `base_url() + path`; `path` is used as given.
    std::string url_for(std::string_view path) const {
        std::string out;
        out.reserve(base_.size() + path.size());
        out += base_;
        out += path;
        return out;
    }

private:
    endpoint() = default;
    std::string base_;
    std::size_t host_offset_ = 0;
    std::size_t host_size_ = 0;
    bool loopback_ = false;
    endpoint_paths paths_;
};

} // namespace babelbird::inline v1
