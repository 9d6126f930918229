// Debian's libc++ for wasm32-wasi is built without threads, so <mutex> and
// <shared_mutex> declare no mutex; numpy's dispatch cache and identity hash
// table lock one. A WASI guest has a single thread, so the lock is a no-op.
// Included ahead of every C++ file of numpy (engine/variants/scientific/variant.sh).
#include <__config>
#if defined(_LIBCPP_HAS_NO_THREADS)
#include <mutex>
#include <shared_mutex>
namespace std {
struct shared_mutex {
    void lock() {}
    void unlock() {}
    void lock_shared() {}
    void unlock_shared() {}
};
}  // namespace std
#endif
