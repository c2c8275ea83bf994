// Helpers the platform adapters share: reading a JSON body into flat
// records (field name → text), and form-encoded bodies likewise.
#pragma once

#include <simdjson.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"

namespace sink {

// One record: each top-level field as text. Strings are unescaped; numbers,
// booleans and null keep their JSON spelling; arrays and objects are
// compact JSON. `json` is the whole record as compact JSON (Event::body).
struct Record {
  std::map<std::string, std::string, std::less<>> fields;
  std::map<std::string, bool, std::less<>> is_string;  // field was a JSON string
  std::string json;

  std::optional<std::string> Text(std::string_view name) const;  // non-empty, not null
  std::optional<int64_t> Int(std::string_view name) const;
  // A timestamp: a number (seconds or ms by magnitude) or ISO-8601 text.
  std::optional<int64_t> Time(std::string_view name) const;
};

// A record built from a simdjson object.
Record RecordFromObject(simdjson::dom::object o);

// The parser for a body of `size` bytes: the thread's own, or for a body of
// 4 MiB or more one of its own in `big`, freed with it (so a rare huge body
// does not leave every worker thread holding a huge buffer).
simdjson::dom::parser& ParserFor(size_t size, std::unique_ptr<simdjson::dom::parser>* big);

// The items of a JSON body: the elements of a top-level array, else the
// value itself. Error: the body is not valid JSON.
Result<std::vector<simdjson::dom::element>> JsonItems(simdjson::dom::parser& parser,
                                                      std::string_view body);

// application/x-www-form-urlencoded → one record (values are strings).
Result<Record> RecordFromForm(std::string_view body);

// One key=value pair of a form body, not yet decoded.
struct FormPair {
  std::string_view key, value;  // value empty when there is no '='
};
// The pairs of a form body in order: split on '&', empty pairs skipped, the
// body's trailing CR/LF ignored.
std::vector<FormPair> FormPairs(std::string_view body);
// Undoes %XX escapes (and '+' for a space when `plus_is_space`: HTML forms;
// nginx writes spaces as %20 and passes a client's '+' as is). A '%' not
// followed by two hex digits stays as it is and sets *malformed.
std::string PercentDecode(std::string_view s, bool plus_is_space, bool* malformed);

}  // namespace sink
