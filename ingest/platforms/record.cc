#include "ingest/platforms/record.h"

#include <charconv>

#include "store/json_text.h"
#include "store/limits.h"
#include "store/text.h"
#include "store/timeutil.h"

namespace sink {

std::optional<std::string> Record::Text(std::string_view name) const {
  auto it = fields.find(name);
  if (it == fields.end() || it->second.empty()) return std::nullopt;
  auto s = is_string.find(name);
  if (it->second == "null" && (s == is_string.end() || !s->second)) return std::nullopt;
  return it->second;
}

std::optional<int64_t> Record::Int(std::string_view name) const {
  std::optional<std::string> t = Text(name);
  if (!t) return std::nullopt;
  return WholeInt64(*t);
}

std::optional<int64_t> Record::Time(std::string_view name) const {
  std::optional<std::string> t = Text(name);
  if (!t) return std::nullopt;
  return ParseTimestampText(*t);
}

Record RecordFromObject(simdjson::dom::object o) {
  Record r;
  r.json = simdjson::minify(o);
  for (auto [key, value] : o) {
    std::string k(key);
    std::string_view s;
    if (value.get_string().get(s) == simdjson::SUCCESS) {
      r.fields[k] = std::string(s);
      r.is_string[k] = true;
    } else {
      r.fields[k] = simdjson::minify(value);
      r.is_string[k] = false;
    }
  }
  return r;
}

simdjson::dom::parser& ParserFor(size_t size, std::unique_ptr<simdjson::dom::parser>* big) {
  thread_local simdjson::dom::parser small;
  if (size < (4u << 20)) return small;
  *big = std::make_unique<simdjson::dom::parser>();
  return **big;
}

Result<std::vector<simdjson::dom::element>> JsonItems(simdjson::dom::parser& parser,
                                                      std::string_view body) {
  simdjson::dom::element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root)) {
    return Status::Invalid(std::string("body is not valid JSON: ") + simdjson::error_message(err));
  }
  std::vector<simdjson::dom::element> items;
  simdjson::dom::array arr;
  if (root.get_array().get(arr) == simdjson::SUCCESS) {
    if (arr.size() > limits::kMaxItemsPerRequest) {
      return Status::TooLarge("more than " + std::to_string(limits::kMaxItemsPerRequest) +
                              " items in one request: send them in several");
    }
    for (simdjson::dom::element e : arr) items.push_back(e);
  } else {
    items.push_back(root);
  }
  return items;
}

namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A form value, strictly: '+' is a space, a '%' must start an escape.
Result<std::string> FormDecode(std::string_view s) {
  bool malformed = false;
  std::string out = PercentDecode(s, /*plus_is_space=*/true, &malformed);
  if (malformed) return Status::Invalid("invalid percent-encoding in the form body");
  return out;
}

}  // namespace

std::string PercentDecode(std::string_view s, bool plus_is_space, bool* malformed) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out += static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2]));
      i += 2;
    } else {
      if (s[i] == '%') *malformed = true;
      out += s[i];
    }
  }
  return out;
}

std::vector<FormPair> FormPairs(std::string_view body) {
  std::vector<FormPair> pairs;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    pairs.push_back({pair.substr(0, eq),
                     eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1)});
  }
  return pairs;
}

Result<Record> RecordFromForm(std::string_view body) {
  Record r;
  const std::vector<FormPair> pairs = FormPairs(body);
  if (pairs.empty()) return Status::Invalid("empty form body");
  r.json = "{";
  for (const FormPair& pair : pairs) {
    Result<std::string> key = FormDecode(pair.key);
    if (!key.ok()) return key.status();
    Result<std::string> value = FormDecode(pair.value);
    if (!value.ok()) return value.status();
    std::string& k = key.value();
    std::string& v = value.value();
    if (k.empty()) return Status::Invalid("form field without a name");
    // The record becomes JSON text (Event::body), which must be UTF-8.
    if (!simdjson::validate_utf8(k) || !simdjson::validate_utf8(v)) {
      return Status::Invalid("form field that is not UTF-8 text once percent-decoded");
    }
    if (r.fields.count(k) == 0) {
      if (r.json.size() > 1) r.json += ',';
      AppendJsonString(&r.json, k);
      r.json += ':';
      AppendJsonString(&r.json, v);
    }
    r.is_string[k] = true;
    r.fields.emplace(std::move(k), std::move(v));
  }
  r.json += '}';
  if (r.fields.empty()) return Status::Invalid("empty form body");
  return r;
}

}  // namespace sink
