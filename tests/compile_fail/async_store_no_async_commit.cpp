// Must not compile: the async store's commit completes with a bool, not a
// babelbird::result<babelbird::commit_outcome>.
#include <babelbird/drivers/token_store.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

struct wrong_async_store {
    void async_load(babelbird::store_completion<babelbird::store_record>&&) {}
    void async_try_acquire(std::string_view, std::chrono::milliseconds,
                           babelbird::store_completion<bool>&&) {}
    void async_renew(std::string_view, std::chrono::milliseconds,
                     babelbird::store_completion<bool>&&) {}
    void async_release(std::string_view, babelbird::store_completion<bool>&&) {}
    void async_commit(std::uint64_t, const babelbird::store_record&,
                      babelbird::store_completion<bool>&&) {}
    void async_stash_orphan(const babelbird::token_grant&, babelbird::store_completion<void>&&) {}
    void async_orphans(babelbird::store_completion<std::vector<babelbird::token_grant>>&&) {}
    void async_remove_orphan(const babelbird::token_grant&, babelbird::store_completion<bool>&&) {}
};

static_assert(babelbird::detail::check_async_token_store<wrong_async_store>());

int main() {
    return 0;
}
