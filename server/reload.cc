#include "server/reload.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "store/log_fields.h"

namespace sink {

namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

Reloader::Reloader(const ServeCommandLine& running, std::vector<std::string> args)
    : name_(running.name()),
      args_(std::move(args)),
      running_(running.Settings()),
      last_ok_at_s_(NowSeconds()) {}

void Reloader::OnChange(std::vector<std::string> options, Apply apply) {
  appliers_.emplace_back(std::move(options), std::move(apply));
}

bool Reloader::Reload() {
  ServeCommandLine next(name_, "");
  std::string why;
  try {
    next.Parse(args_);
  } catch (const CLI::ParseError& e) {
    why = e.what();
  }
  if (why.empty()) {
    for (const std::string& p : ValidateServeConfig(next.config())) {
      why += (why.empty() ? "" : "; ") + p;
    }
  }
  if (!why.empty()) {
    ++failures_;
    last_ok_ = false;
    LogFields f{{"reload_failures", failures_.load()}};
    spdlog::error("configuration reload refused, the running configuration stays: {}", why);
    return false;
  }

  std::map<std::string, const Setting*> before;
  for (const Setting& s : running_) before[s.name] = &s;
  std::vector<Setting> after = next.Settings();
  std::set<std::string> changed;
  for (const Setting& s : after) {
    auto it = before.find(s.name);
    if (it == before.end() || it->second->values != s.values) changed.insert(s.name);
  }
  std::set<std::string> applied;
  for (const auto& [options, apply] : appliers_) {
    const bool hit = std::any_of(options.begin(), options.end(),
                                 [&](const std::string& o) { return changed.count(o) > 0; });
    if (!hit) continue;
    apply(next.config());
    applied.insert(options.begin(), options.end());
  }
  std::vector<std::string> done, ignored;
  for (Setting& s : after) {
    if (changed.count(s.name) == 0) continue;
    if (applied.count(s.name) > 0) {
      done.push_back(s.name);
      // The running value is now the new one; an ignored one keeps its old
      // value, so that the next reload names it again.
      auto it = std::find_if(running_.begin(), running_.end(),
                             [&](const Setting& r) { return r.name == s.name; });
      if (it != running_.end()) *it = s;
    } else {
      ignored.push_back(s.name);
    }
  }
  ++reloads_;
  last_ok_ = true;
  last_ok_at_s_ = NowSeconds();
  const std::string file = next.config_file().empty() ? "(no --config file)" : next.config_file();
  std::string line = "configuration reloaded from " + file + ": ";
  line += done.empty() ? "nothing changed" : "changed " + Join(done);
  if (!ignored.empty()) line += "; ignored until a restart: " + Join(ignored);
  LogFields f{{"config", file}, {"changed", Join(done)}, {"ignored", Join(ignored)}};
  spdlog::info("{}", line);
  return true;
}

void Reloader::AppendMetrics(std::string* m) const {
  *m +=
      "# HELP sessionsink_config_reloads_total Reloads (SIGHUP) that applied the configuration.\n"
      "# TYPE sessionsink_config_reloads_total counter\n"
      "sessionsink_config_reloads_total " +
      std::to_string(reloads_.load()) +
      "\n# HELP sessionsink_config_reload_failures_total Reloads refused for an invalid "
      "configuration (the running one was kept).\n"
      "# TYPE sessionsink_config_reload_failures_total counter\n"
      "sessionsink_config_reload_failures_total " +
      std::to_string(failures_.load()) +
      "\n# HELP sessionsink_config_last_reload_successful 1 when the last reload applied the "
      "configuration (or none was tried), 0 when it was refused.\n"
      "# TYPE sessionsink_config_last_reload_successful gauge\n"
      "sessionsink_config_last_reload_successful " +
      std::string(last_ok_.load() ? "1" : "0") +
      "\n# HELP sessionsink_config_last_reload_success_timestamp_seconds When the configuration "
      "was last applied (start or reload), Unix time.\n"
      "# TYPE sessionsink_config_last_reload_success_timestamp_seconds gauge\n"
      "sessionsink_config_last_reload_success_timestamp_seconds " +
      std::to_string(last_ok_at_s_.load()) + "\n";
}

}  // namespace sink
