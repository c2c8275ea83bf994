// POST /events, /events/gamelift, /events/zego, /events/streampixel: read the
// body (decoding its Content-Encoding), parse it, and answer after the
// commit. Every cost a request can cause is bounded (store/limits.h): the
// items it may hold, the dead letters and answer entries they make, and the
// share of the writer it takes (a large batch commits in steps).
#include <httplib.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "ingest/body_decoder.h"
#include "ingest/body_items.h"
#include "ingest/event_rules.h"
#include "ingest/platforms/registry.h"
#include "server/connection_guard.h"
#include "server/framed_stream.h"
#include "server/http_server.h"
#include "server/http_util.h"
#include "server/refusal_log.h"
#include "server/request_budget.h"
#include "store/json_text.h"
#include "store/limits.h"

namespace sink {

namespace {

// The dead letter of an unreadable body: its first bytes, the reason saying
// how many were kept when not all.
void KeepBody(std::string bytes, uint64_t size, bool as_received, Reject* r) {
  if (bytes.size() > limits::kMaxDeadLetterBodyBytes) bytes.resize(limits::kMaxDeadLetterBodyBytes);
  if (bytes.size() < size) {
    r->reason += " (body: the first " + std::to_string(bytes.size()) + " of " +
                 std::to_string(size) + " bytes" + (as_received ? " as received" : "") + ")";
  } else if (as_received) {
    r->reason += " (body: the bytes as received)";
  }
  r->body = std::move(bytes);
}

// The share of the request budget a request holds, returned when it ends.
// When the last big request in flight ends, the allocator gives its free
// memory back to the system (else every worker thread's arena keeps the
// high-water mark of the largest batch it parsed).
class BudgetHold {
 public:
  explicit BudgetHold(RequestBudget* budget) : budget_(budget) {}
  ~BudgetHold() {
    if (held_ == 0) return;
    const bool idle = budget_->Give(held_);
    if (idle && held_ >= (uint64_t{32} << 20)) malloc_trim(0);
  }
  BudgetHold(const BudgetHold&) = delete;
  BudgetHold& operator=(const BudgetHold&) = delete;
  // Holds the cost of `body_bytes`; false when the budget cannot take it.
  bool Cover(uint64_t body_bytes) {
    const uint64_t need = budget_->Cost(body_bytes);
    if (need <= held_) return true;
    if (!budget_->Take(held_, need - held_)) return false;
    held_ = need;
    return true;
  }

 private:
  RequestBudget* budget_;
  uint64_t held_ = 0;
};

// A request's body as read: decoded, and its first bytes as received.
struct EventsBody {
  std::string text;       // decoded
  std::string raw;        // the first bytes as received, when decoding
  uint64_t raw_size = 0;  // bytes received
  bool complete = false;  // read to its end
};

// Why reading a body stopped.
enum class BodyRead { kRead, kTooLarge, kOverBudget, kCorrupt, kTruncated };

// Step 1: reads and decodes the body. kTooLarge comes from the decoder (the
// decoded size would pass `limit`), kOverBudget from the request budget.
BodyRead ReadBody(const httplib::ContentReader& read, BodyDecoder& decoder, uint64_t limit,
                  uint64_t declared, BudgetHold& hold, EventsBody* out) {
  out->text.reserve(std::min<uint64_t>(declared, limit) + simdjson::SIMDJSON_PADDING);
  BodyDecoder::Result decoded = BodyDecoder::Result::kOk;
  bool over_budget = false;
  out->complete = read([&](const char* data, size_t n) {
    out->raw_size += n;
    if (!decoder.identity() && out->raw.size() < limits::kMaxDeadLetterBodyBytes) {
      out->raw.append(data, std::min(n, limits::kMaxDeadLetterBodyBytes - out->raw.size()));
    }
    decoded = decoder.Feed(data, n, &out->text, limit);
    if (!hold.Cover(out->text.size())) {
      over_budget = true;
      return false;
    }
    return decoded == BodyDecoder::Result::kOk;
  });
  if (over_budget) return BodyRead::kOverBudget;
  if (out->complete) decoded = decoder.Finish();
  if (decoded == BodyDecoder::Result::kTooLarge) return BodyRead::kTooLarge;
  if (decoded == BodyDecoder::Result::kCorrupt) return BodyRead::kCorrupt;
  return out->complete ? BodyRead::kRead : BodyRead::kTruncated;
}

// What a request's body gave: the batch to commit and what the answer lists.
struct ParsedRequest {
  WriteBatch batch;
  Status unreadable;         // kInvalid: the body is kept as a dead letter, answered 400
  int64_t dropped = 0;       // non-event items counted in a summary row
  int64_t future_times = 0;  // events whose time a sender's clock cannot have produced
  std::string errors;        // the answer's "errors" entries
  size_t listed = 0;         // how many
};

// The dead letter of an unreadable body: as received when it was encoded
// (what a dead letter costs on disk is bounded by what the request cost on
// the wire), else as read.
Reject DeadLetter(std::string why, bool identity, EventsBody&& body) {
  Reject r;
  r.index = -1;
  r.reason = std::move(why);
  if (identity) {
    const uint64_t size = body.text.size();
    KeepBody(std::move(body.text), std::max(size, body.raw_size), false, &r);
  } else {
    KeepBody(std::move(body.raw), body.raw_size, true, &r);
  }
  return r;
}

// Step 2: parses a body read to its end with its platform's parser. An
// error other than kInvalid (kTooLarge: too many items) is returned, to be
// answered at once with nothing stored.
Result<ParsedRequest> ParseForPlatform(const PlatformSpec& spec, const BodyContext& ctx,
                                       bool identity, int64_t received_at, EventsBody&& body) {
  ParsedRequest out;
  out.batch.received_at = received_at;
  const size_t size = body.text.size();
  body.text.append(simdjson::SIMDJSON_PADDING, ' ');
  Result<ParsedBody> parsed =
      spec.parse(simdjson::padded_string_view(body.text.data(), size, body.text.size()), ctx);
  body.text.resize(size);
  if (!parsed.ok()) {
    if (parsed.status().code() != Status::Code::kInvalid) return parsed.status();
    out.unreadable = parsed.status();
    out.batch.rejects.push_back(DeadLetter(parsed.status().message(), identity, std::move(body)));
    return out;
  }
  for (Event& e : parsed->events) out.future_times += DropFutureTimes(&e, received_at) ? 1 : 0;
  out.batch.events = std::move(parsed->events);
  out.batch.rejects = std::move(parsed->rejects);
  // The answer's errors: the first few rejects by index.
  for (const Reject& r : out.batch.rejects) {
    if (out.listed == limits::kMaxErrorsInAnswer) break;
    if (!out.errors.empty()) out.errors += ',';
    out.errors += "{\"index\":" + std::to_string(r.index) + ",\"reason\":";
    AppendJsonString(&out.errors, r.reason);
    out.errors += '}';
    ++out.listed;
  }
  if (parsed->rejects_dropped > 0) {
    Reject summary;
    summary.index = parsed->first_dropped_index;
    summary.reason = std::to_string(parsed->rejects_dropped) +
                     " more items of this request are not events and are not kept one by "
                     "one (the first " +
                     std::to_string(limits::kMaxRejectRowsPerRequest) +
                     " are); the first of them, at this index: " + parsed->first_dropped_reason;
    out.batch.rejects.push_back(std::move(summary));
  }
  out.dropped = parsed->rejects_dropped;
  return out;
}

// A large batch commits in steps (the rejects with the first), so that
// other clients' requests commit in between.
std::vector<WriteBatch> InSteps(WriteBatch batch) {
  std::vector<WriteBatch> steps;
  if (batch.events.size() <= limits::kEventsPerStep) {
    steps.push_back(std::move(batch));
    return steps;
  }
  std::vector<Event> events = std::move(batch.events);
  batch.events.clear();
  for (size_t i = 0; i < events.size(); i += limits::kEventsPerStep) {
    WriteBatch step;
    if (steps.empty()) {
      step = std::move(batch);
    } else {
      step.received_at = steps.front().received_at;
      step.remote_addr = steps.front().remote_addr;
    }
    const size_t end = std::min(events.size(), i + limits::kEventsPerStep);
    step.events.assign(std::make_move_iterator(events.begin() + static_cast<ptrdiff_t>(i)),
                       std::make_move_iterator(events.begin() + static_cast<ptrdiff_t>(end)));
    steps.push_back(std::move(step));
  }
  return steps;
}

// Step 3: commits the batch in steps, each submitted once the previous one
// committed, all by `deadline`. On an error, *committed_events says how
// many events the earlier steps committed.
Result<WriteOutcome> CommitInSteps(Writer* writer, WriteBatch batch,
                                   std::chrono::steady_clock::time_point deadline,
                                   size_t* committed_events) {
  WriteOutcome total;
  for (WriteBatch& step : InSteps(std::move(batch))) {
    const size_t n = step.events.size();
    Result<Writer::Future> queued = writer->Submit(std::move(step));
    if (!queued.ok()) return queued.status();
    Writer::Future& f = queued.value();
    if (f.wait_until(deadline) != std::future_status::ready) {
      // Not lost: if the commit lands later, the resend is a duplicate.
      return Status::Unavailable("timed out waiting for the database commit");
    }
    Result<WriteOutcome> outcome = f.get();
    if (!outcome.ok()) return outcome.status();
    total.accepted += outcome->accepted;
    total.duplicates += outcome->duplicates;
    total.rejected += outcome->rejected;
    *committed_events += n;
  }
  return total;
}

// Step 4: the 200 answer.
std::string RenderAnswer(const WriteOutcome& total, const ParsedRequest& p) {
  // The summary row stands for the items it counts.
  const int64_t rejected = total.rejected + p.dropped - (p.dropped > 0 ? 1 : 0);
  std::string out = "{\"accepted\":" + std::to_string(total.accepted) +
                    ",\"duplicates\":" + std::to_string(total.duplicates) +
                    ",\"rejected\":" + std::to_string(rejected) + ",\"errors\":[" + p.errors + "]";
  if (static_cast<int64_t>(p.listed) < rejected) {
    out += ",\"errors_omitted\":" + std::to_string(rejected - static_cast<int64_t>(p.listed));
  }
  if (p.future_times > 0) out += ",\"future_times\":" + std::to_string(p.future_times);
  out += "}\n";
  return out;
}

}  // namespace

void HttpServer::HandleEvents(const PlatformSpec& spec, const httplib::Request& req,
                              httplib::Response& res, const httplib::ContentReader& read) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t received_at = clock_->NowMs();
  auto finish = [&](int code) {
    counters_->Count(code);
    counters_->request_seconds[HttpCounters::kEvents].Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  // An answer before the body was read to its end: the connection closes.
  auto refuse_early = [&](int code, const std::string& why) {
    SetError(res, code, why);
    CloseAfter(res);
    finish(code);
  };
  const std::string limit = std::to_string(cfg_.max_body_bytes) + " bytes";

  const bool allowed =
      spec.from_browsers ? BrowserAuthorized(req, res) : Authorized(req, res, Access::kIngest);
  if (!allowed) {
    CloseAfter(res);
    return finish(401);
  }
  uint64_t declared = 0;
  if (req.has_header("Content-Length")) {
    const std::string v = req.get_header_value("Content-Length");
    std::from_chars(v.data(), v.data() + v.size(), declared);
  }
  if (declared > cfg_.max_body_bytes) {
    return refuse_early(
        413, "body of " + std::to_string(declared) + " bytes exceeds the limit of " + limit);
  }
  // Every request in flight shares one memory budget: refused at once
  // (never made to wait) when it is spent.
  BudgetHold hold(budget_.get());
  auto refuse_memory = [&] {
    ++counters_->memory_refused;
    const std::string why =
        "the event requests in flight use the memory budget (--request-memory " +
        std::to_string(budget_->cap() >> 20) + " MiB): retry";
    refusals_->Refused(why);
    refuse_early(503, why);
  };
  if (!hold.Cover(declared)) return refuse_memory();
  const FrameInfo& frame = CurrentFrame();
  const std::string coding =
      frame.active ? frame.content_encoding : req.get_header_value("Content-Encoding");
  std::string unsupported;
  std::unique_ptr<BodyDecoder> decoder = BodyDecoder::For(coding, &unsupported);
  if (!decoder) {
    return refuse_early(415, "unsupported Content-Encoding '" + unsupported +
                                 "' (gzip, deflate and identity are accepted)");
  }

  EventsBody body;
  const BodyRead how = ReadBody(read, *decoder, cfg_.max_body_bytes, declared, hold, &body);
  if (how == BodyRead::kOverBudget) return refuse_memory();
  counters_->body_bytes += body.text.size();
  if (how == BodyRead::kTooLarge) {
    return refuse_early(413, "body exceeds the limit of " + limit + " (after decoding)");
  }
  // The framing itself is broken: nothing of it is the sender's data.
  if (!frame.body_error.empty()) return refuse_early(400, frame.body_error);

  const bool identity = decoder->identity();
  Result<ParsedRequest> parsed = ParsedRequest{};
  if (how == BodyRead::kRead) {
    parsed = ParseForPlatform(spec, BodyContext{req.get_header_value("Content-Type")}, identity,
                              received_at, std::move(body));
    // Not unreadable data (kTooLarge: more items than a request may hold):
    // answered at once, nothing stored.
    if (!parsed.ok()) {
      AnswerError(res, parsed.status());
      return finish(HttpStatusFor(parsed.status()));
    }
  } else {
    const std::string why = how == BodyRead::kCorrupt ? "corrupt or truncated " + coding + " data"
                                                      : "could not read the body: truncated";
    if (!body.complete) CloseAfter(res);
    parsed->unreadable = Status::Invalid(why);
    parsed->batch.received_at = received_at;
    parsed->batch.rejects.push_back(DeadLetter(why, identity, std::move(body)));
  }
  parsed->batch.remote_addr = req.remote_addr;

  GuardedServer::Busy busy;  // the commit's time is not the client's
  size_t committed_events = 0;
  const Result<WriteOutcome> total = CommitInSteps(
      writer_, std::move(parsed->batch),
      std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.request_timeout_ms),
      &committed_events);
  if (!total.ok()) {
    // Not stored, so the client resends; the log says why (rate-limited).
    std::string why = total.status().message();
    if (committed_events > 0) {
      why += " (the first " + std::to_string(committed_events) +
             " events of the request were committed: its resend counts them as duplicates)";
    }
    refusals_->Refused(why);
    SetError(res, HttpStatusFor(total.status()), why);
    return finish(HttpStatusFor(total.status()));
  }
  refusals_->Committed();
  if (parsed->future_times > 0) {
    counters_->future_times += static_cast<uint64_t>(parsed->future_times);
    future_log_->Warn(req.remote_addr,
                      "events with a time more than 1 h ahead of the sink's clock: the time was "
                      "dropped (the body is kept as received)");
  }
  // An unreadable body was kept as a dead letter; answered as what it is.
  if (!parsed->unreadable.ok()) {
    AnswerError(res, parsed->unreadable);
    return finish(HttpStatusFor(parsed->unreadable));
  }
  res.status = 200;
  res.set_content(RenderAnswer(total.value(), parsed.value()), kJsonType);
  return finish(200);
}

}  // namespace sink
