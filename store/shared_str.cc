#include "store/shared_str.h"

#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <unordered_set>

namespace sink {

// The set of live texts, keyed by content.
struct SharedStrPool {
  struct Hash {
    using is_transparent = void;
    size_t operator()(const SharedStr::Rep* r) const { return r->hash; }
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Eq {
    using is_transparent = void;
    static std::string_view View(const SharedStr::Rep* r) { return {r->data, r->size}; }
    static std::string_view View(std::string_view s) { return s; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return View(a) == View(b);
    }
  };
  std::mutex mu;
  std::unordered_set<SharedStr::Rep*, Hash, Eq> live;  // guarded by mu

  static SharedStrPool& Get() {
    static SharedStrPool* pool = new SharedStrPool();  // never destroyed: outlives every holder
    return *pool;
  }
};

SharedStr SharedStr::Of(std::string_view s) {
  SharedStrPool& pool = SharedStrPool::Get();
  SharedStr out;
  std::lock_guard<std::mutex> lock(pool.mu);
  auto it = pool.live.find(s);
  if (it != pool.live.end()) {
    out.rep_ = *it;
    out.rep_->refs.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
  void* mem = std::malloc(offsetof(Rep, data) + s.size() + 1);
  if (mem == nullptr) std::abort();
  Rep* r = new (mem) Rep{{1}, static_cast<uint32_t>(s.size()), SharedStrPool::Hash()(s), {0}};
  if (!s.empty()) std::memcpy(r->data, s.data(), s.size());
  pool.live.insert(r);
  out.rep_ = r;
  return out;
}

void SharedStr::Release(Rep* r) {
  // Drop a reference without the lock unless it may be the last: a new
  // holder can only come from the pool (under the lock) or from a copy
  // (which needs a reference of its own).
  uint32_t refs = r->refs.load(std::memory_order_relaxed);
  while (refs > 1) {
    if (r->refs.compare_exchange_weak(refs, refs - 1, std::memory_order_acq_rel)) return;
  }
  SharedStrPool& pool = SharedStrPool::Get();
  std::lock_guard<std::mutex> lock(pool.mu);
  if (r->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  pool.live.erase(r);
  r->~Rep();
  std::free(r);
}

size_t SharedStr::SharedBytes() const {
  if (!rep_) return 0;
  const uint32_t refs = std::max<uint32_t>(rep_->refs.load(std::memory_order_relaxed), 1);
  // The block and its place in the pool, split between its holders.
  return (offsetof(Rep, data) + rep_->size + 1 + 32) / refs;
}

}  // namespace sink
