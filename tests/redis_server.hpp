// A real redis-server for the store's tests: started on a free loopback port
// with its own temporary directory and no persistence, stopped and removed at
// the end. Redis has no "--port 0": a port is picked by binding a socket to
// port 0, closed, and handed to redis-server; if another process took it
// meanwhile, the server exits and a new port is tried.
//
// The binary: $BABELBIRD_REDIS_SERVER, else /usr/bin/redis-server, else
// redis-server on PATH (scripts/install-deps installs Debian's redis-server).
#pragma once

#include <hiredis/hiredis.h>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace test_redis {

/// A loopback port that was free a moment ago (0 on failure).
inline int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
}

inline std::string redis_server_binary() {
    if (const char* env = std::getenv("BABELBIRD_REDIS_SERVER"); env != nullptr && *env != '\0') {
        return env;
    }
    if (::access("/usr/bin/redis-server", X_OK) == 0) {
        return "/usr/bin/redis-server";
    }
    return "redis-server";
}

/// One redis-server process (see the file comment).
class redis_server {
public:
    /// Starts a server; `extra` are more arguments (e.g. {"--requirepass", "pw"}).
    explicit redis_server(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
        char pattern[] = "/tmp/babelbird-redis-XXXXXX";
        REQUIRE(::mkdtemp(pattern) != nullptr);
        dir_ = pattern;
        for (int attempt = 0; attempt < 8 && pid_ <= 0; ++attempt) {
            port_ = free_loopback_port();
            if (port_ != 0 && !start()) {
                port_ = 0;
            }
        }
        if (pid_ <= 0) {
            std::error_code ignored;
            std::filesystem::remove_all(dir_, ignored);
        }
        REQUIRE_MESSAGE(pid_ > 0, "redis-server did not start (" << redis_server_binary() << ")");
    }
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;
    ~redis_server() {
        stop();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    int port() const noexcept { return port_; }
    bool running() const noexcept { return pid_ > 0; }

    /// Starts redis-server on `port()` again (after `kill()` or `stop()`);
    /// waits until it answers PING. False when it exited or did not answer in 5 s.
    bool start() {
        if (pid_ > 0) {
            return true;
        }
        std::vector<std::string> args = {redis_server_binary(),
                                         "--port",
                                         std::to_string(port_),
                                         "--bind",
                                         "127.0.0.1",
                                         "--save",
                                         "",
                                         "--appendonly",
                                         "no",
                                         "--dir",
                                         dir_,
                                         "--logfile",
                                         dir_ + "/redis.log",
                                         "--daemonize",
                                         "no"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        pid_t pid = 0;
        if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
            return false;
        }
        pid_ = pid;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1; // exited: the port was taken, most likely
                return false;
            }
            const std::string pong = command({"PING"});
            // With --requirepass the answer is a NOAUTH error: up all the same.
            if (pong == "PONG" || pong.rfind("ERR: NOAUTH", 0) == 0) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        kill();
        return false;
    }

    /// SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL if it still runs.
    void stop() {
        if (pid_ <= 0) {
            return;
        }
        (void)command({"SHUTDOWN", "NOSAVE"});
        if (!wait_exit(std::chrono::seconds(3))) {
            ::kill(pid_, SIGTERM);
            if (!wait_exit(std::chrono::seconds(3))) {
                kill();
                return;
            }
        }
        pid_ = -1;
    }

    /// SIGKILL: the server dies at once (a crash, as the store sees it).
    void kill() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    /// Sends one command on a new connection. The reply as text: a status or
    /// string as is, an integer in decimal, nil as "(nil)", an error as
    /// "ERR: ...", an array as its elements joined by '\n'; "" when the
    /// server could not be reached.
    std::string command(const std::vector<std::string>& args) const {
        timeval tv{1, 0};
        redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
        if (c == nullptr || c->err != 0) {
            if (c != nullptr) {
                redisFree(c);
            }
            return "";
        }
        redisSetTimeout(c, tv);
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
        std::string out = r == nullptr ? "" : text(r);
        if (r != nullptr) {
            freeReplyObject(r);
        }
        redisFree(c);
        return out;
    }

private:
    static std::string text(const redisReply* r) {
        switch (r->type) {
        case REDIS_REPLY_STATUS:
        case REDIS_REPLY_STRING:
            return std::string(r->str, r->len);
        case REDIS_REPLY_ERROR:
            return "ERR: " + std::string(r->str, r->len);
        case REDIS_REPLY_INTEGER:
            return std::to_string(r->integer);
        case REDIS_REPLY_NIL:
            return "(nil)";
        case REDIS_REPLY_ARRAY: {
            std::string out;
            for (std::size_t i = 0; i < r->elements; ++i) {
                out += (i == 0 ? "" : "\n") + text(r->element[i]);
            }
            return out;
        }
        default:
            return "?";
        }
    }

    bool wait_exit(std::chrono::seconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return false;
    }

    std::vector<std::string> extra_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

} // namespace test_redis
