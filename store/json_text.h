// Writing JSON text by hand (small, flat documents: answers, reports).
#pragma once

#include <string>
#include <string_view>

namespace sink {

// Appends `s` as a JSON string literal, quotes included. Control characters
// are escaped; other bytes (UTF-8 included) are copied as they are. The
// escapes are simdjson's (\b \f \n \r \t, else \u00xx), so that a record
// written here and one re-serialized by simdjson are the same text (a ZEGO
// form body and the same record sent as JSON give one stored event).
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace sink
