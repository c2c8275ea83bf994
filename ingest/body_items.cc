#include "ingest/body_items.h"

#include <memory>

#include "ingest/json_check.h"
#include "store/limits.h"

namespace sink {

namespace od = simdjson::ondemand;
using json::Describe;
using json::TrimRight;
using json::Validate;
using simdjson::error_code;

size_t BodyItems::Start() const {
  size_t start = 0;
  if (body_.size() >= 3 && static_cast<unsigned char>(body_[0]) == 0xEF &&
      static_cast<unsigned char>(body_[1]) == 0xBB &&
      static_cast<unsigned char>(body_[2]) == 0xBF) {
    start = 3;  // UTF-8 byte order mark
  }
  while (start < body_.size() && json::IsBlank(body_[start])) ++start;
  return start;
}

void AddReject(Reject r, ParsedBody* out) {
  if (out->rejects.size() < limits::kMaxRejectRowsPerRequest) {
    out->rejects.push_back(std::move(r));
    return;
  }
  if (out->rejects_dropped++ == 0) {
    out->first_dropped_index = r.index;
    out->first_dropped_reason = std::move(r.reason);
  }
}

Status CheckItemCount(size_t items) {
  if (items <= limits::kMaxItemsPerRequest) return Status::Ok();
  return Status::TooLarge("more than " + std::to_string(limits::kMaxItemsPerRequest) +
                          " items in one request: send them in several");
}

Status BodyItems::Add(std::string_view item) {
  SINK_RETURN_IF_ERROR(CheckItemCount(static_cast<size_t>(index_) + 1));
  Event e;
  std::string reason;
  Status st = parse_(item, CapacityOf(item), &e, &reason);
  if (!st.ok()) {
    return Status::Invalid("invalid JSON in item " + std::to_string(index_) + ": " + st.message());
  }
  if (reason.empty()) {
    out_.events.push_back(std::move(e));
  } else {
    Reject r;
    r.index = index_;
    r.reason = std::move(reason);
    if (out_.rejects.size() < limits::kMaxRejectRowsPerRequest) r.body = std::string(item);
    r.server = std::move(e.server);
    AddReject(std::move(r), &out_);
  }
  ++index_;
  return Status::Ok();
}

bool BodyItems::Parses(std::string_view item) const {
  Event e;
  std::string reason;
  return parse_(item, CapacityOf(item), &e, &reason).ok();
}

Status BodyItems::AddArray(size_t start) {
  std::unique_ptr<od::parser> big_parser;
  od::parser& parser = json::BodyParserFor(body_.size(), &big_parser);
  od::document doc;
  error_code err;
  if ((err = parser.iterate(body_.data() + start, body_.size() - start, body_.capacity() - start)
                 .get(doc))) {
    return Status::Invalid(Describe(err));
  }
  od::array arr;
  if ((err = doc.get_array().get(arr))) return Status::Invalid(Describe(err));
  for (auto elem_result : arr) {
    od::value v;
    od::json_type t;
    if ((err = elem_result.get(v)) || (err = v.type().get(t))) {
      return Status::Invalid("invalid JSON in item " + std::to_string(index_) + ": " +
                             Describe(err));
    }
    std::string_view item;
    if (t == od::json_type::object) {
      od::object o;
      if (!(err = v.get_object().get(o))) err = o.raw_json().get(item);
    } else if (t == od::json_type::array) {
      od::array a;
      if (!(err = v.get_array().get(a))) err = a.raw_json().get(item);
    } else {
      item = TrimRight(v.raw_json_token());
      // Scalars are checked by the item parser; step past this one here.
      err = Validate(v, 1);
    }
    if (err) {
      return Status::Invalid("invalid JSON in item " + std::to_string(index_) + ": " +
                             Describe(err));
    }
    item = TrimRight(item);  // raw_json() keeps the whitespace that follows
    SINK_RETURN_IF_ERROR(Add(item));
  }
  const char* loc = nullptr;
  if (!doc.current_location().get(loc)) {
    return Status::Invalid("unexpected content after the JSON array");
  }
  return Status::Ok();
}

}  // namespace sink
