// Must not compile: the store has every operation but remove_orphan().
#include <babelbird/drivers/token_store.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

struct incomplete_store {
    babelbird::result<babelbird::store_record> load() { return babelbird::store_record{}; }
    babelbird::result<bool> try_acquire(std::string_view, std::chrono::milliseconds) {
        return false;
    }
    babelbird::result<bool> renew(std::string_view, std::chrono::milliseconds) { return false; }
    babelbird::result<bool> release(std::string_view) { return false; }
    babelbird::result<babelbird::commit_outcome> commit(std::uint64_t,
                                                        const babelbird::store_record&) {
        return babelbird::commit_outcome{};
    }
    babelbird::result<void> stash_orphan(const babelbird::token_grant&) { return {}; }
    babelbird::result<std::vector<babelbird::token_grant>> orphans() {
        return std::vector<babelbird::token_grant>{};
    }
};
struct inline_executor {
    void post(babelbird::unique_function<void()> fn) { fn(); }
};

int main() {
    incomplete_store store;
    inline_executor ex;
    babelbird::store_on_executor<incomplete_store, inline_executor> async(store, ex);
    async.async_load([](babelbird::result<babelbird::store_record>) {});
    return 0;
}
