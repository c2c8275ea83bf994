// The stored body of an nginx-rtmp event (events.body), both ways: what
// NginxRtmp::Callback writes (StoredBody: the sink's decisions, then the
// callback's fields) and what replay reads back with no state
// (ParseNginxRtmpStored, declared in platforms.h, which documents the
// format). Internal to ingest/platforms/.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sink::nginx_rtmp {

// Every nginx-rtmp event's name starts with this: "nginx-rtmp.<call>".
inline constexpr std::string_view kEventPrefix = "nginx-rtmp.";

// The calls that end a session.
bool IsClose(std::string_view call);

// What the sink decided about one callback: the top of its stored body.
struct Decision {
  std::optional<std::string> id, kind, media;
  std::optional<int64_t> opened_at, started_at, duration_ms;
};

// The callback's form fields, first occurrence of each key, in order.
using FormFields = std::vector<std::pair<std::string, std::string>>;

// The stored body of one callback; `repeated` lists the keys the form held
// more than once.
std::string StoredBody(std::string_view instance, std::string_view call, int64_t at,
                       int64_t event_id, const Decision& d, const FormFields& fields,
                       const std::vector<std::string>& repeated,
                       const std::optional<std::string>& user,
                       const std::optional<std::string>& token);

// Fields of a stored body, read straight from the parsed object (they are
// few; no copy into a map): a non-empty string, an integer.
struct StoredFields {
  simdjson::dom::object o;
  std::optional<std::string> Text(std::string_view key) const {
    std::string_view v;
    if (o[key].get_string().get(v) != simdjson::SUCCESS || v.empty()) return std::nullopt;
    return std::string(v);
  }
  std::optional<int64_t> Int(std::string_view key) const {
    int64_t v = 0;
    if (o[key].get_int64().get(v) != simdjson::SUCCESS) return std::nullopt;
    return v;
  }
};

}  // namespace sink::nginx_rtmp
