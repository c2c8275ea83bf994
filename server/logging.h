// The process's log output: spdlog's default logger on stderr, as text
// (a timestamp, the level and the message) or as JSON (one object a line:
// "time", "level", "message", and the fields of store/log_fields.h).
// journald keeps either. Thread-safe: the format can change while other
// threads log (a reload).
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace sink {

// Creates the default logger (stderr), text format, level info.
void InitLogging();
// "text" or "json"; anything else is treated as text.
void SetLogFormat(const std::string& format);
// The JSON lines formatter that --log-format json installs.
std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter();

}  // namespace sink
