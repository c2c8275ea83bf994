#include "ingest/json_check.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace sink::json {

namespace od = simdjson::ondemand;
using simdjson::error_code;
using simdjson::SUCCESS;

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  return s;
}

od::parser& BodyParserFor(size_t size, std::unique_ptr<od::parser>* big) {
  thread_local od::parser small;
  if (size < kKeepParserBelow) return small;
  *big = std::make_unique<od::parser>();
  return **big;
}

od::parser& ItemParserFor(size_t size, std::unique_ptr<od::parser>* big) {
  thread_local od::parser small;
  if (size < kKeepParserBelow) return small;
  *big = std::make_unique<od::parser>();
  return **big;
}

std::optional<double> DoubleFromText(std::string_view s) {
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || p != s.data() + s.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    d = std::strtod(std::string(s).c_str(), nullptr);  // underflow is 0, overflow inf
  } else if (ec != std::errc()) {
    return std::nullopt;
  }
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

error_code ScalarText(od::value& v, od::json_type t, std::string_view* text) {
  if (t == od::json_type::string) return v.get_string().get(*text);
  *text = Token(v);
  return IsJsonNumber(*text) ? SUCCESS : simdjson::NUMBER_ERROR;
}

// The JSON number grammar (RFC 8259 §6). simdjson refuses to convert some
// valid numbers (1e400, 30-digit integers); they are still valid JSON.
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// The text of a scalar token (number, true, false), without trailing blanks.
std::string_view Token(od::value& v) { return TrimRight(v.raw_json_token()); }

error_code Validate(od::value v, int depth) {
  if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
  od::json_type t;
  error_code err = v.type().get(t);
  if (err) return err;
  switch (t) {
    case od::json_type::object: {
      od::object o;
      if ((err = v.get_object().get(o))) return err;
      for (auto field : o) {
        std::string_view key;
        od::value fv;
        if ((err = field.unescaped_key().get(key)) || (err = field.value().get(fv))) return err;
        if ((err = Validate(fv, depth + 1))) return err;
      }
      return SUCCESS;
    }
    case od::json_type::array: {
      od::array a;
      if ((err = v.get_array().get(a))) return err;
      for (auto elem : a) {
        od::value e;
        if ((err = elem.get(e)) || (err = Validate(e, depth + 1))) return err;
      }
      return SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case od::json_type::number:
      return IsJsonNumber(Token(v)) ? SUCCESS : simdjson::NUMBER_ERROR;
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null;
      err = v.is_null().get(is_null);
      if (err) return err;
      return is_null ? SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

std::string Describe(error_code err) {
  switch (err) {
    case simdjson::INCORRECT_TYPE:
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR:
      return "malformed value (a misspelt true/false/null, or a bare word)";
    case simdjson::NUMBER_ERROR:
      return "malformed number";
    default:
      return simdjson::error_message(err);
  }
}

const char* TypeName(od::json_type t) {
  switch (t) {
    case od::json_type::object:
      return "an object";
    case od::json_type::array:
      return "an array";
    case od::json_type::string:
      return "a string";
    case od::json_type::number:
      return "a number";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "a value";
}

Status AtEnd(od::document& doc) {
  const char* loc = nullptr;
  if (!doc.current_location().get(loc)) {
    return Status::Invalid("unexpected content after the value (one JSON value per item)");
  }
  return Status::Ok();
}

Status OpenItem(std::string_view item, size_t capacity, std::string_view noun,
                std::unique_ptr<od::parser>* big, od::document* doc, od::object* obj,
                std::string* reject_reason) {
  reject_reason->clear();
  od::parser& parser = ItemParserFor(item.size(), big);
  error_code err = parser.iterate(item.data(), item.size(), capacity).get(*doc);
  if (err) return Status::Invalid(Describe(err));
  od::json_type t;
  if ((err = doc->type().get(t))) return Status::Invalid(Describe(err));
  // Valid JSON that is not an object: a reject, after checking it is valid.
  if (t != od::json_type::object) return RejectNonObject(item, *doc, t, noun, reject_reason);
  if ((err = doc->get_object().get(*obj))) return Status::Invalid(Describe(err));
  return Status::Ok();
}

Status RejectNonObject(std::string_view item, od::document& doc, od::json_type t,
                       std::string_view noun, std::string* reject_reason) {
  error_code err = SUCCESS;
  switch (t) {
    case od::json_type::array: {
      od::array a;
      if ((err = doc.get_array().get(a))) return Status::Invalid(Describe(err));
      for (auto elem : a) {
        od::value v;
        if ((err = elem.get(v)) || (err = Validate(v, 1))) return Status::Invalid(Describe(err));
      }
      break;
    }
    case od::json_type::string: {
      std::string_view s;
      if ((err = doc.get_string().get(s))) return Status::Invalid(Describe(err));
      break;
    }
    case od::json_type::number:
      // The item is exactly one number ("42 43" is not); nothing is left to read.
      if (!IsJsonNumber(TrimRight(item))) return Status::Invalid(Describe(simdjson::NUMBER_ERROR));
      *reject_reason = std::string(noun) + " must be a JSON object, got a number";
      return Status::Ok();
    case od::json_type::boolean: {
      bool b;
      if ((err = doc.get_bool().get(b))) return Status::Invalid(Describe(err));
      break;
    }
    case od::json_type::null: {
      bool is_null = false;
      if ((err = doc.is_null().get(is_null)) || !is_null) {
        return Status::Invalid(Describe(err ? err : simdjson::N_ATOM_ERROR));
      }
      break;
    }
    default:
      return Status::Invalid("unexpected JSON value");
  }
  *reject_reason = std::string(noun) + " must be a JSON object, got " + TypeName(t);
  return AtEnd(doc);
}

}  // namespace sink::json
