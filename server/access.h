// AccessRules: the secrets and origins requests are checked against. They
// can change at a reload (token rotation), so handlers take a snapshot per
// request from an AccessHolder, which swaps the whole set at once.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"

namespace sink {

// Compares two secrets in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

struct AccessRules {
  std::vector<std::string> tokens;       // may post and read; empty: no authentication
  std::vector<std::string> read_tokens;  // may read
  std::vector<std::string> streampixel_origins;
  bool metrics_public = false;

  static AccessRules From(const ServeConfig& cfg) {
    return {cfg.tokens, cfg.read_tokens, cfg.streampixel_origins, cfg.metrics_public};
  }
  // True when `given` is one of the tokens (or, when `read`, of the read
  // tokens). Every token is compared, so the time does not tell which one
  // matched.
  bool Grants(std::string_view given, bool read) const {
    bool ok = false;
    for (const std::string& t : tokens) ok |= ConstantTimeEquals(given, t);
    if (read) {
      for (const std::string& t : read_tokens) ok |= ConstantTimeEquals(given, t);
    }
    return ok;
  }
};

class AccessHolder {
 public:
  explicit AccessHolder(AccessRules rules)
      : rules_(std::make_shared<const AccessRules>(std::move(rules))) {}
  std::shared_ptr<const AccessRules> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return rules_;
  }
  void Set(AccessRules rules) {
    auto next = std::make_shared<const AccessRules>(std::move(rules));
    std::lock_guard<std::mutex> lock(mu_);
    rules_ = std::move(next);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const AccessRules> rules_;
};

}  // namespace sink
