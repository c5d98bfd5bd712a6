#include "store_file.hpp"

#include <babelbird/requests/token_requests.hpp>
#include <babelbird/values/secure_zero.hpp>

#include <simdjson.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>

#include "json_out.hpp"

namespace cli {

namespace {

constexpr std::size_t max_store_size = 64 * 1024;

std::string errno_text(int e) {
    return std::strerror(e);
}

/// "YYYY-MM-DDTHH:MM:SSZ", as `rfc3339_utc` writes it.
std::optional<babelbird::time_point> parse_rfc3339(std::string_view s) {
    if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z') {
        return std::nullopt;
    }
    const auto num = [&](std::size_t at, std::size_t n) {
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (s[i] < '0' || s[i] > '9') {
                return -1;
            }
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    std::tm t{};
    const int year = num(0, 4);
    const int month = num(5, 2);
    const int day = num(8, 2);
    const int hour = num(11, 2);
    const int minute = num(14, 2);
    const int second = num(17, 2);
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 60) {
        return std::nullopt;
    }
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = hour;
    t.tm_min = minute;
    t.tm_sec = second;
    const std::time_t seconds = timegm(&t);
    if (seconds < 0) {
        return std::nullopt;
    }
    // Past the clock's range (year 2262): its last instant, as json_out prints it.
    constexpr std::time_t last = 9'223'372'036;
    if (seconds >= last) {
        return babelbird::time_point::max();
    }
    return babelbird::time_point(std::chrono::seconds(seconds));
}

/// The token shapes the library accepts from a server (docs/design.md,
/// "Policies"): an access token is VSCHAR with no space at the ends, a refresh
/// token 1*VSCHAR (spaces anywhere). The same checks, so every grant the
/// library hands out can be stored and read back.
bool header_safe(std::string_view token, bool refresh) {
    return refresh ? static_cast<bool>(babelbird::detail::check_refresh_token_input(token))
                   : static_cast<bool>(babelbird::detail::check_access_token_input(token));
}

store_error bad(std::string_view why) {
    return store_error{"the store file is not a valid grant: " + std::string(why)};
}

std::string directory_of(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

/// Removes temporaries that an earlier, killed write left behind.
void remove_stale_temporaries(const std::string& dir, const std::string& prefix) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return;
    }
    while (const dirent* e = ::readdir(d)) {
        if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) {
            ::unlinkat(::dirfd(d), e->d_name, 0);
        }
    }
    ::closedir(d);
}

std::variant<store_location, store_error> parse_redis_location(std::string_view text) {
    const auto usage = [](std::string_view why) {
        return store_error{"--store redis://HOST:PORT/NAME: " + std::string(why)};
    };
    std::string_view rest = text.substr(8);
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
        return usage("the NAME of the grant is missing");
    }
    std::string_view authority = rest.substr(0, slash);
    const std::string_view name = rest.substr(slash + 1);
    if (authority.find('@') != std::string_view::npos) {
        return usage("no user or password in the URL; set BABELBIRD_REDIS_PASSWORD instead");
    }
    redis_location out;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos || close < 3) {
            return usage("an IPv6 HOST must look like [::1]");
        }
        const std::string_view v6 = authority.substr(1, close - 1);
        if (!std::all_of(v6.begin(), v6.end(), [](char ch) {
                return std::isxdigit(static_cast<unsigned char>(ch)) != 0 || ch == ':' || ch == '.';
            })) {
            return usage("an IPv6 HOST must look like [::1]");
        }
        out.host = std::string(v6);
        authority = authority.substr(close + 1);
        if (authority.empty() || authority.front() != ':') {
            return usage("the PORT is required (e.g. redis://[::1]:6379/NAME)");
        }
        port = authority.substr(1);
    } else {
        const std::size_t colon = authority.rfind(':');
        if (colon == std::string_view::npos) {
            return usage("the PORT is required (e.g. redis://127.0.0.1:6379/NAME)");
        }
        const std::string_view host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        if (host.empty() || host.size() > 253 || host.front() == '-' || host.front() == '.' ||
            !std::all_of(host.begin(), host.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '.' || ch == '-';
            })) {
            return usage("HOST must be a DNS name, an IPv4 address or [IPv6]");
        }
        out.host = std::string(host);
    }
    unsigned number = 0;
    if (port.empty() || port.size() > 5 || port.front() == '0' ||
        !std::all_of(port.begin(), port.end(),
                     [&](char ch) {
                         if (ch < '0' || ch > '9') {
                             return false;
                         }
                         number = number * 10 + static_cast<unsigned>(ch - '0');
                         return true;
                     }) ||
        number == 0 || number > 65535) {
        return usage("PORT must be a number in [1, 65535]");
    }
    out.port = static_cast<std::uint16_t>(number);
    if (name.empty() || name.size() > 200 || !std::all_of(name.begin(), name.end(), [](char ch) {
            return std::isalnum(static_cast<unsigned char>(ch)) != 0 ||
                   std::string_view("._:-").find(ch) != std::string_view::npos;
        })) {
        return usage("NAME must be 1-200 letters, digits, '.', '_', ':' or '-' (no query)");
    }
    out.name = std::string(name);
    return store_location{std::string(text), std::move(out)};
}

} // namespace

std::variant<store_location, store_error> parse_store_location(std::string_view text) {
    constexpr std::string_view file = "file:";
    if (text.substr(0, file.size()) == file) {
        const std::string_view path = text.substr(file.size());
        if (path.empty() || path.back() == '/') {
            return store_error{"--store file:PATH needs the path of a file"};
        }
        if (path.find('\0') != std::string_view::npos) {
            return store_error{"--store: the path contains a NUL byte"};
        }
        return store_location{std::string(path)};
    }
    constexpr std::string_view redis = "redis://";
    if (text.substr(0, redis.size()) == redis) {
        return parse_redis_location(text);
    }
    if (text.substr(0, 9) == "rediss://") {
        return store_error{"--store rediss:// (Redis over TLS) is not supported; use redis://"};
    }
    return store_error{"--store must be file:PATH or redis://HOST:PORT/NAME"};
}

std::variant<store_lock, store_error> store_lock::acquire(const store_location& where,
                                                          std::chrono::milliseconds timeout) {
    const std::string dir = directory_of(where.path);
    const std::string lock_path =
        (dir == "/" ? "/" : dir + "/") + "." + name_of(where.path) + ".lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        const int e = errno;
        if (e == ENOENT || e == EACCES || e == EROFS) {
            // No directory to lock in: the store cannot be written either,
            // which the write reports (with a rescue copy).
            return store_lock(-1);
        }
        return store_error{"cannot open the lock file of the store " + where.path + ": " +
                           errno_text(e)};
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            const int e = errno;
            ::close(fd);
            return store_error{"cannot lock the store " + where.path + ": " + errno_text(e)};
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            ::close(fd);
            return store_error{
                "the store " + where.path +
                    " is in use by another babelbird-cli (still locked after the timeout)",
                true};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return store_lock(fd);
}

store_lock::~store_lock() {
    if (fd_ >= 0) {
        ::close(fd_); // releases the flock
    }
}

std::string temporary_prefix(const store_location& where) {
    return "." + name_of(where.path) + ".tmp-";
}

std::variant<babelbird::token_grant, store_error> parse_store_json(std::string_view text) {
    if (text.size() > max_store_size) {
        return bad("larger than 64 KiB");
    }
    simdjson::padded_string padded(text);
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS) {
        babelbird::detail::secure_zero(padded.data(), padded.size());
        return bad("not valid JSON");
    }
    babelbird::token_grant grant;
    std::optional<store_error> failure;
    const auto fail = [&](std::string_view why) {
        if (!failure) {
            failure = bad(why);
        }
    };
    simdjson::dom::object object;
    if (root.get_object().get(object) != simdjson::SUCCESS) {
        fail("not a JSON object");
    } else {
        enum : unsigned {
            f_access = 1,
            f_refresh = 2,
            f_in = 4,
            f_at = 8,
            f_rat = 16,
            f_type = 32,
            f_scope = 64
        };
        unsigned seen = 0;
        for (const auto field : object) {
            const std::string_view key = field.key;
            const simdjson::dom::element value = field.value;
            unsigned bit = 0;
            if (key == "access_token") {
                bit = f_access;
            } else if (key == "refresh_token") {
                bit = f_refresh;
            } else if (key == "expires_in") {
                bit = f_in;
            } else if (key == "expires_at") {
                bit = f_at;
            } else if (key == "refresh_expires_at") {
                bit = f_rat;
            } else if (key == "token_type") {
                bit = f_type;
            } else if (key == "scope") {
                bit = f_scope;
            } else {
                fail("an unknown field");
                break;
            }
            if ((seen & bit) != 0) {
                fail("a repeated field");
                break;
            }
            seen |= bit;
            std::string_view s;
            const bool is_null = value.is_null();
            const bool is_string = value.get_string().get(s) == simdjson::SUCCESS;
            switch (bit) {
            case f_access:
            case f_refresh: {
                if (!is_null && !is_string) {
                    fail("a token is not a string");
                } else if (is_string && !s.empty() && !header_safe(s, bit == f_refresh)) {
                    fail("a token has bytes that cannot go into a header");
                } else if (is_string) {
                    (bit == f_access ? grant.access_token : grant.refresh_token) =
                        babelbird::secret(s);
                }
                break;
            }
            case f_in: {
                std::uint64_t n = 0;
                if (is_null) {
                    break;
                }
                if (value.get_uint64().get(n) != simdjson::SUCCESS || n > 10ULL * 365 * 24 * 3600) {
                    fail("expires_in is not a number of seconds");
                } else {
                    grant.expires_in = n;
                }
                break;
            }
            case f_at:
            case f_rat: {
                if (bit == f_rat && is_null) {
                    break;
                }
                const auto t = is_string ? parse_rfc3339(s) : std::nullopt;
                if (!t) {
                    fail("a time is not of the form YYYY-MM-DDTHH:MM:SSZ");
                } else if (bit == f_at) {
                    grant.expires_at = *t;
                } else {
                    grant.refresh_expires_at = *t;
                }
                break;
            }
            default: // token_type, scope
                if (!is_string) {
                    fail("token_type or scope is not a string");
                } else {
                    (bit == f_type ? grant.token_type : grant.scope) = std::string(s);
                }
                break;
            }
            if (failure) {
                break;
            }
        }
        if (!failure && (seen & f_at) == 0) {
            fail("expires_at is missing");
        }
        if (!failure && grant.access_token.empty() && grant.refresh_token.empty()) {
            fail("it holds no token");
        }
    }
    babelbird::detail::secure_zero(padded.data(), padded.size());
    if (failure) {
        return *failure;
    }
    // The lifetime the window is computed from: expires_in when known, else
    // the assumed hour.
    const auto lifetime = std::chrono::seconds(
        grant.expires_in ? static_cast<std::int64_t>(*grant.expires_in) : std::int64_t{3600});
    grant.issued_at = grant.expires_at - lifetime;
    grant.refresh_token_rotated = false;
    return grant;
}

std::variant<std::optional<babelbird::token_grant>, store_error>
read_store(const store_location& where) {
    const int fd = ::open(where.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            return std::optional<babelbird::token_grant>();
        }
        return store_error{"cannot open the store file " + where.path + ": " + errno_text(errno)};
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return store_error{"the store " + where.path + " is not a regular file"};
    }
    if (static_cast<std::size_t>(st.st_size) > max_store_size) {
        ::close(fd);
        return store_error{bad("larger than 64 KiB").message + " (" + where.path + ")"};
    }
    // The grant is for the owner alone (mode 0600, as every write leaves it):
    // a copy made under the umask or a chmod by hand is tightened. Best effort;
    // a store owned by someone else is read as it is.
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        (void)::fchmod(fd, S_IRUSR | S_IWUSR);
    }
    std::string text(max_store_size + 1, '\0');
    std::size_t got = 0;
    int read_errno = 0;
    while (got < text.size()) {
        const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            read_errno = errno;
            break;
        }
        if (n == 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (read_errno != 0) {
        babelbird::detail::scrub(text);
        return store_error{"cannot read the store file " + where.path + ": " +
                           errno_text(read_errno)};
    }
    auto parsed = parse_store_json(std::string_view(text.data(), got));
    babelbird::detail::scrub(text);
    if (auto* e = std::get_if<store_error>(&parsed)) {
        return store_error{e->message + " (" + where.path + ")"};
    }
    return std::optional<babelbird::token_grant>(
        std::move(std::get<babelbird::token_grant>(parsed)));
}

std::optional<store_error> write_store(const store_location& where,
                                       const babelbird::token_grant& grant) {
    const std::string dir = directory_of(where.path);
    const std::string prefix = temporary_prefix(where);
    remove_stale_temporaries(dir, prefix);
    std::string tmp = (dir == "/" ? "/" : dir + "/") + prefix + "XXXXXX";
    const auto failed = [&](const char* step, int e) {
        return store_error{"cannot write the store file " + where.path + " (" + step +
                           "): " + errno_text(e)};
    };
    const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) {
        return failed("create a temporary file", errno);
    }
    std::string text = grant_json(grant);
    text += '\n';
    int e = 0;
    const char* step = nullptr;
    if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
        e = errno;
        step = "chmod 0600";
    } else if (!write_all(fd, text.data(), text.size())) {
        e = errno;
        step = "write";
    } else if (::fsync(fd) != 0) {
        e = errno;
        step = "fsync";
    }
    babelbird::detail::scrub(text);
    if (::close(fd) != 0 && step == nullptr) {
        e = errno;
        step = "close";
    }
    if (step == nullptr && ::rename(tmp.c_str(), where.path.c_str()) != 0) {
        e = errno;
        step = "rename";
    }
    if (step != nullptr) {
        ::unlink(tmp.c_str());
        return failed(step, e);
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return failed("open the directory", errno);
    }
    if (::fsync(dfd) != 0) {
        e = errno;
        ::close(dfd);
        return failed("fsync the directory", e);
    }
    ::close(dfd);
    return std::nullopt;
}

} // namespace cli
