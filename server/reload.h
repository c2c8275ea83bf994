// Reloader: what SIGHUP does. It parses the process's `serve` arguments
// again — so the --config file is read again, under the same flags and
// environment, with the same precedence — validates the result, and applies
// the settings that changed and can change while running. Each such setting
// has an applier registered with OnChange(); a changed setting with none is
// logged as ignored until a restart. An invalid file changes nothing: the
// running configuration is kept, the reason logged, the failure counted.
//
// To make another setting reloadable, register an applier for its option
// name where the object it configures is built:
//
//   reloader.OnChange({"retain-events"}, [&](const ServeConfig& c) { store->SetRetention(...); });
//
// Thread-safety: Reload() and OnChange() from one thread (the signal
// loop); AppendMetrics() from any.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "server/config.h"

namespace sink {

class Reloader {
 public:
  using Apply = std::function<void(const ServeConfig&)>;

  // `running`: the command line the process started with; `args` its arguments.
  Reloader(const ServeCommandLine& running, std::vector<std::string> args);

  // `apply` runs with the new configuration when any of `options` (long
  // names without --) changed.
  void OnChange(std::vector<std::string> options, Apply apply);

  // Rereads and applies; logs one line. False when the new configuration
  // was refused (the running one stays).
  bool Reload();

  // The reload counters in Prometheus' text format.
  void AppendMetrics(std::string* out) const;

 private:
  std::string name_;
  std::vector<std::string> args_;
  std::vector<Setting> running_;
  std::vector<std::pair<std::vector<std::string>, Apply>> appliers_;
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<bool> last_ok_{true};
  std::atomic<int64_t> last_ok_at_s_{0};
};

}  // namespace sink
