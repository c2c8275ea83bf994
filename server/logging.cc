#include "server/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <memory>

#include "store/json_text.h"
#include "store/log_fields.h"

namespace sink {

namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v";

// A JSON string of `s` that a strict parser accepts: bytes that are not
// UTF-8 (a client's path can hold any) become U+FFFD.
void AppendLogString(std::string* out, std::string_view s) {
  std::string clean;
  clean.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80                 ? 1
                 : c >= 0xC2 && c <= 0xDF ? 2
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xF0 && c <= 0xF4 ? 4
                                          : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (ok && len >= 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
          (c == 0xF4 && c1 >= 0x90)) {
        ok = false;  // overlong, a surrogate, or beyond U+10FFFF
      }
    }
    if (ok) {
      clean.append(s.substr(i, len));
      i += len;
    } else {
      clean += "\xEF\xBF\xBD";
      ++i;
    }
  }
  AppendJsonString(out, clean);
}

class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since = msg.time.time_since_epoch();
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(since).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char when[40];
    const size_t n = std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(when + n, sizeof when - n, ".%03dZ", static_cast<int>(ms % 1000));
    std::string line = "{\"time\":\"";
    line += when;
    line += "\",\"level\":";
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    AppendJsonString(&line, std::string_view(level.data(), level.size()));
    line += ",\"message\":";
    AppendLogString(&line, std::string_view(msg.payload.data(), msg.payload.size()));
    for (const LogField& f : LogFields::Current()) {
      line += ',';
      AppendJsonString(&line, f.key);
      line += ':';
      if (f.quoted) {
        AppendLogString(&line, f.value);
      } else {
        line += f.value;
      }
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter() {
  return std::make_unique<JsonFormatter>();
}

void InitLogging() {
  auto logger = spdlog::stderr_color_mt("sessionsink");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(kTextPattern);
}

void SetLogFormat(const std::string& format) {
  if (format == "json") {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  } else {
    spdlog::set_pattern(kTextPattern);
  }
}

}  // namespace sink
