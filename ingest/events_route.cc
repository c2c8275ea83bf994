// POST /events, /events/gamelift, /events/zego, /events/streampixel: read the
// body (decoding its Content-Encoding), parse it, and answer after the
// commit. Every cost a request can cause is bounded (ingest/limits.h): the
// items it may hold, the dead letters and answer entries they make, and the
// share of the writer it takes (a large batch commits in steps).
#include <httplib.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "ingest/body_decoder.h"
#include "ingest/connection_guard.h"
#include "ingest/event_parser.h"
#include "ingest/http_framing.h"
#include "ingest/http_server.h"
#include "ingest/http_util.h"
#include "ingest/limits.h"
#include "ingest/platforms/registry.h"
#include "ingest/refusal_log.h"
#include "ingest/request_budget.h"
#include "store/json_text.h"

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
    SetError(res, 413,
             "body of " + std::to_string(declared) + " bytes exceeds the limit of " +
                 std::to_string(cfg_.max_body_bytes) + " bytes");
    CloseAfter(res);
    return finish(413);
  }

  // Every request in flight shares one memory budget: refused at once
  // (never made to wait) when it is spent.
  BudgetHold hold(budget_.get());
  bool over_budget = false;
  auto refuse_memory = [&] {
    ++counters_->memory_refused;
    const std::string why =
        "the event requests in flight use the memory budget (--request-memory " +
        std::to_string(budget_->cap() >> 20) + " MiB): retry";
    refusals_->Refused(why);
    SetError(res, 503, why);
    CloseAfter(res);
    finish(503);
  };
  if (!hold.Cover(declared)) return refuse_memory();

  const FrameInfo& frame = CurrentFrame();
  const std::string coding =
      frame.active ? frame.content_encoding : req.get_header_value("Content-Encoding");
  std::string unsupported;
  std::unique_ptr<BodyDecoder> decoder = BodyDecoder::For(coding, &unsupported);
  if (!decoder) {
    SetError(res, 415,
             "unsupported Content-Encoding '" + unsupported +
                 "' (gzip, deflate and identity are accepted)");
    CloseAfter(res);
    return finish(415);
  }

  std::string body;  // decoded
  body.reserve(std::min<uint64_t>(declared, cfg_.max_body_bytes) + simdjson::SIMDJSON_PADDING);
  std::string raw;  // the first bytes as received, when decoding
  uint64_t raw_size = 0;
  BodyDecoder::Result decoded = BodyDecoder::Result::kOk;
  bool complete = read([&](const char* data, size_t n) {
    raw_size += n;
    if (!decoder->identity() && raw.size() < limits::kMaxDeadLetterBodyBytes) {
      raw.append(data, std::min(n, limits::kMaxDeadLetterBodyBytes - raw.size()));
    }
    decoded = decoder->Feed(data, n, &body, cfg_.max_body_bytes);
    if (!hold.Cover(body.size())) {
      over_budget = true;
      return false;
    }
    return decoded == BodyDecoder::Result::kOk;
  });
  if (over_budget) return refuse_memory();
  if (complete) decoded = decoder->Finish();
  counters_->body_bytes += body.size();
  if (decoded == BodyDecoder::Result::kTooLarge || res.status == 413) {
    SetError(res, 413,
             "body exceeds the limit of " + std::to_string(cfg_.max_body_bytes) +
                 " bytes (after decoding)");
    CloseAfter(res);
    return finish(413);
  }
  if (!frame.body_error.empty()) {
    // The framing itself is broken: nothing of it is the sender's data.
    SetError(res, 400, frame.body_error);
    CloseAfter(res);
    return finish(400);
  }

  WriteBatch batch;
  int64_t future_times = 0;  // events whose time a sender's clock cannot have produced
  batch.received_at = received_at;
  batch.remote_addr = req.remote_addr;
  std::string unreadable;
  int64_t dropped = 0;  // non-event items counted in a summary row
  Reject dead_letter;
  dead_letter.index = -1;
  if (decoded == BodyDecoder::Result::kCorrupt) {
    unreadable = "corrupt or truncated " + coding + " data";
    dead_letter.reason = unreadable;
    KeepBody(std::move(raw), raw_size, true, &dead_letter);
    if (!complete) CloseAfter(res);
  } else if (!complete) {
    unreadable = "could not read the body: truncated";
    dead_letter.reason = unreadable;
    if (decoder->identity()) {
      KeepBody(std::move(body), raw_size, false, &dead_letter);
    } else {
      KeepBody(std::move(raw), raw_size, true, &dead_letter);
    }
    CloseAfter(res);
  } else {
    const size_t size = body.size();
    body.append(simdjson::SIMDJSON_PADDING, ' ');
    const simdjson::padded_string_view padded(body.data(), size, body.size());
    Result<ParsedBody> parsed =
        spec.parse(padded, BodyContext{req.get_header_value("Content-Type")});
    body.resize(size);
    if (parsed.ok()) {
      for (Event& e : parsed->events) future_times += DropFutureTimes(&e, received_at) ? 1 : 0;
      batch.events = std::move(parsed->events);
      batch.rejects = std::move(parsed->rejects);
      if (parsed->rejects_dropped > 0) {
        Reject summary;
        summary.index = parsed->first_dropped_index;
        summary.reason = std::to_string(parsed->rejects_dropped) +
                         " more items of this request are not events and are not kept one by "
                         "one (the first " +
                         std::to_string(limits::kMaxRejectRowsPerRequest) +
                         " are); the first of them, at this index: " + parsed->first_dropped_reason;
        batch.rejects.push_back(std::move(summary));
      }
      dropped = parsed->rejects_dropped;
    } else if (parsed.status().code() != Status::Code::kInvalid) {
      // Not unreadable data (kTooLarge: more items than a request may
      // hold): answered at once, nothing stored.
      AnswerError(res, parsed.status());
      return finish(HttpStatusFor(parsed.status()));
    } else {
      unreadable = parsed.status().message();
      dead_letter.reason = unreadable;
      // What a dead letter costs on disk is bounded by what the request cost
      // on the wire: a compressed body is kept as received, not decoded.
      if (decoder->identity()) {
        KeepBody(std::move(body), size, false, &dead_letter);
      } else {
        KeepBody(std::move(raw), raw_size, true, &dead_letter);
      }
    }
  }
  // The answer's errors: the first few rejects by index (they move into the batch).
  std::string errors;
  size_t listed = 0;
  for (const Reject& r : batch.rejects) {
    if (listed == limits::kMaxErrorsInAnswer || (dropped > 0 && &r == &batch.rejects.back())) break;
    if (!errors.empty()) errors += ',';
    errors += "{\"index\":" + std::to_string(r.index) + ",\"reason\":";
    AppendJsonString(&errors, r.reason);
    errors += '}';
    ++listed;
  }
  if (!unreadable.empty()) batch.rejects.push_back(std::move(dead_letter));

  // A large batch commits in steps (the rejects with the first), each
  // submitted once the previous one committed, so that other clients'
  // requests commit in between.
  std::vector<WriteBatch> steps;
  if (batch.events.size() > limits::kEventsPerStep) {
    std::vector<Event> events = std::move(batch.events);
    batch.events.clear();
    for (size_t i = 0; i < events.size(); i += limits::kEventsPerStep) {
      WriteBatch step;
      if (steps.empty()) {
        step = std::move(batch);
      } else {
        step.received_at = received_at;
        step.remote_addr = req.remote_addr;
      }
      const size_t end = std::min(events.size(), i + limits::kEventsPerStep);
      step.events.assign(std::make_move_iterator(events.begin() + static_cast<ptrdiff_t>(i)),
                         std::make_move_iterator(events.begin() + static_cast<ptrdiff_t>(end)));
      steps.push_back(std::move(step));
    }
  } else {
    steps.push_back(std::move(batch));
  }

  // Not stored, so the client resends; the log says why (rate-limited).
  size_t committed_events = 0;
  auto refuse = [&](const Status& st) {
    std::string why = st.message();
    if (committed_events > 0) {
      why += " (the first " + std::to_string(committed_events) +
             " events of the request were committed: its resend counts them as duplicates)";
    }
    refusals_->Refused(why);
    SetError(res, HttpStatusFor(st), why);
    finish(HttpStatusFor(st));
  };
  WriteOutcome total;
  GuardedServer::Busy busy;  // the commit's time is not the client's
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.request_timeout_ms);
  for (WriteBatch& step : steps) {
    const size_t n = step.events.size();
    Result<Writer::Future> queued = writer_->Submit(std::move(step));
    if (!queued.ok()) return refuse(queued.status());
    Writer::Future& f = queued.value();
    if (f.wait_until(deadline) != std::future_status::ready) {
      // Not lost: if the commit lands later, the resend is a duplicate.
      return refuse(Status::Unavailable("timed out waiting for the database commit"));
    }
    Result<WriteOutcome> outcome = f.get();
    if (!outcome.ok()) return refuse(outcome.status());
    total.accepted += outcome->accepted;
    total.duplicates += outcome->duplicates;
    total.rejected += outcome->rejected;
    committed_events += n;
  }
  refusals_->Committed();
  if (future_times > 0) {
    counters_->future_times += static_cast<uint64_t>(future_times);
    future_log_->Warn(req.remote_addr,
                      "events with a time more than 1 h ahead of the sink's clock: the time was "
                      "dropped (the body is kept as received)");
  }
  if (!unreadable.empty()) {
    // Kept as a dead letter, and answered as what it is: kInvalid, 400.
    const Status st = Status::Invalid(unreadable);
    AnswerError(res, st);
    return finish(HttpStatusFor(st));
  }
  // The summary row stands for the items it counts.
  const int64_t rejected = total.rejected + dropped - (dropped > 0 ? 1 : 0);
  std::string out = "{\"accepted\":" + std::to_string(total.accepted) +
                    ",\"duplicates\":" + std::to_string(total.duplicates) +
                    ",\"rejected\":" + std::to_string(rejected) + ",\"errors\":[" + errors + "]";
  if (static_cast<int64_t>(listed) < rejected) {
    out += ",\"errors_omitted\":" + std::to_string(rejected - static_cast<int64_t>(listed));
  }
  if (future_times > 0) out += ",\"future_times\":" + std::to_string(future_times);
  out += "}\n";
  res.status = 200;
  res.set_content(out, kJsonType);
  return finish(200);
}

}  // namespace sink
