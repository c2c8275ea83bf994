// ThreadSanitizer builds only (SINK_SANITIZE=thread).
//
// librdkafka uses C11 threads (thrd_create, mtx_*, cnd_*). glibc implements
// them by calling its internal pthread functions directly, past the
// pthread_create/pthread_mutex_lock that TSan intercepts: librdkafka's
// threads then run without TSan state (they crash on their first malloc) and
// its locking is invisible (every hand-over of data to our threads looks like
// a race). Defining the C11 functions here — the executable's definitions win
// over glibc's for librdkafka — routes them through the intercepted pthread
// calls. glibc's thrd_t is a pthread_t, and mtx_t/cnd_t have the layout of
// pthread_mutex_t/pthread_cond_t (glibc's own implementation casts them).
#include <errno.h>
#include <pthread.h>
#include <threads.h>

#include <cstdint>
#include <new>

namespace {

struct Start {
  thrd_start_t fn;
  void* arg;
};

void* Trampoline(void* p) {
  Start s = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(s.fn(s.arg)));
}

int Map(int rc) {
  switch (rc) {
    case 0:
      return thrd_success;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    case ENOMEM:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

pthread_mutex_t* M(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* C(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }

}  // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t fn, void* arg) {
  Start* s = new (std::nothrow) Start{fn, arg};
  if (s == nullptr) return thrd_nomem;
  const int rc = pthread_create(thr, nullptr, Trampoline, s);
  if (rc != 0) delete s;
  return Map(rc);
}

int thrd_join(thrd_t thr, int* res) {
  void* ret = nullptr;
  const int rc = pthread_join(thr, &ret);
  if (rc == 0 && res != nullptr) *res = static_cast<int>(reinterpret_cast<intptr_t>(ret));
  return Map(rc);
}
int thrd_detach(thrd_t thr) { return Map(pthread_detach(thr)); }

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(M(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return Map(rc);
}
int mtx_lock(mtx_t* m) { return Map(pthread_mutex_lock(M(m))); }
int mtx_trylock(mtx_t* m) { return Map(pthread_mutex_trylock(M(m))); }
int mtx_timedlock(mtx_t* m, const struct timespec* ts) {
  return Map(pthread_mutex_timedlock(M(m), ts));
}
int mtx_unlock(mtx_t* m) { return Map(pthread_mutex_unlock(M(m))); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(M(m)); }

int cnd_init(cnd_t* c) { return Map(pthread_cond_init(C(c), nullptr)); }
int cnd_signal(cnd_t* c) { return Map(pthread_cond_signal(C(c))); }
int cnd_broadcast(cnd_t* c) { return Map(pthread_cond_broadcast(C(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) { return Map(pthread_cond_wait(C(c), M(m))); }
int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* ts) {
  return Map(pthread_cond_timedwait(C(c), M(m), ts));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(C(c)); }

}  // extern "C"
