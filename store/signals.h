// Signals a process waits for instead of handling them asynchronously.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <initializer_list>

namespace sink {

// Blocks `signals` in the calling thread, and so in every thread it starts
// afterwards (they inherit its mask), so that only an explicit wait
// (sigwait, sigtimedwait on the returned set) receives them. Call before
// starting threads.
inline sigset_t BlockSignals(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace sink
