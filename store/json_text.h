// Writing JSON text by hand (small, flat documents: answers, reports).
#pragma once

#include <string>
#include <string_view>

namespace sink {

// Appends `s` as a JSON string literal, quotes included. Control characters
// are escaped; other bytes (UTF-8 included) are copied as they are.
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace sink
