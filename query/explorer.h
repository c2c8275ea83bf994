// The sessions explorer and a session's timeline: the read side of the
// dashboard's "Sessions" and "Timeline" panels (GET /api/sessions and
// GET /api/session), answered as JSON text.
//
// Every function runs on a read-only connection the caller owns (one per
// thread, as for RunReport()); none writes. Bad parameters are kInvalid with
// a message naming the parameter; SQLite errors are kIoError/kUnavailable.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite.h"
#include "store/status.h"

namespace sink {

// A URL query as the HTTP layer hands it over: name → value.
using QueryParams = std::map<std::string, std::string, std::less<>>;

// The limits of one explorer page (a page is one scan of `sessions`).
inline constexpr int64_t kExplorerDefaultLimit = 50;
inline constexpr int64_t kExplorerMaxLimit = 500;
// Deeper pages cost a sort of offset + limit rows; past this, narrow the filters.
inline constexpr int64_t kExplorerMaxOffset = 100000;

// Which sessions the explorer lists. Text filters match exactly, except
// `user_agent` (a case-insensitive substring) and `ip` (exact, or a prefix
// when it ends with '*'). `state` is a session state or "live" (not
// finished). A session is in the window [from, to) when it overlaps it:
// COALESCE(opened_at, first_event_at) < to, and it is open or its end
// (COALESCE(closed_at, last_event_at)) is at or after from.
struct SessionFilter {
  std::optional<std::string> server, media, proto, user, ip, user_agent, platform, state, kind;
  std::optional<int64_t> from, to;
};

struct ExplorerQuery {
  SessionFilter filter;
  // opened_at (default; COALESCE(opened_at, first_event_at)), started_at,
  // closed_at, last_event_at, watch_ms, bytes, stall_count, stalled_ms,
  // event_count, media, user_id, server.
  std::string sort = "opened_at";
  bool descending = true;
  int64_t limit = kExplorerDefaultLimit;
  int64_t offset = 0;
};

// Reads from, to, platform, server, media, proto, user, ip, user_agent,
// state, kind, sort, order (asc|desc), limit, offset. kInvalid on a bad value.
Result<ExplorerQuery> ParseExplorerQuery(const QueryParams& q);
// Only the filter part (from, to, platform, server, media, proto, user, ip,
// user_agent, state, kind) — the parameters every dashboard panel shares.
Result<SessionFilter> ParseSessionFilter(const QueryParams& q);

// {"sessions":[{…}, …], "offset":N, "limit":N, "more":bool}: one page of
// sessions, `more` when a next page exists. Each session has id, kind, state,
// platform, server, media, proto, user_id, ip, user_agent, opened_at,
// started_at, closed_at, last_event_at, watch_ms, bytes, stall_count,
// stalled_ms, event_count, end_class, close_reason, source_id.
Result<std::string> ListSessionsJson(Db& db, const ExplorerQuery& q);

// One stored event, as the `events` table holds it.
struct TimelineEvent {
  int64_t seq = 0;
  int64_t received_at = 0;  // sink clock, ms
  std::optional<std::string> server;
  std::string event;                 // the event name, verbatim
  std::optional<std::string> kind;   // play|publish|…
  std::optional<std::string> phase;  // normalized: opened, started, stalled, …
  std::optional<int64_t> utc_ms;     // sender clock, ms
  std::string body;                  // the event JSON as received
};

// The most events one timeline lists (a session updated every 30 s for four
// days); past it the answer says it was cut.
inline constexpr size_t kTimelineMaxEvents = 12000;
// How long SessionEvents() may look for a session's events before it
// answers with what it found (the placeholder below is a range scan).
inline constexpr std::chrono::milliseconds kSessionEventsBudget{700};

struct SessionEventList {
  std::vector<TimelineEvent> events;  // time order, see SessionEvents()
  // False when the list stops early: max_events reached, or the time budget
  // ran out (then the events listed are the earliest ones).
  bool complete = true;
};

// Every stored event of session `id`, in time order: by utc_ms, events
// without one last; equal times by seq (arrival). Empty when there are none.
// Uses the connection's progress handler while it runs (and clears it).
//
// The events table has no index on session_id (a random-key index would
// cost a random page write per event): the session's row lists its events'
// seqs (event_seqs, the first 4096), read here by primary key; the events
// past that bound lie after the last listed seq and are found by a walk of
// the seq range up to the row's last_seq. Rows written before schema
// version 6 list nothing: for them the row's [first_event_at,
// last_event_at] bounds a walk of events_dedup in time order, which can run
// out of `budget` for a session spanning days (then `complete` is false).
// Like every reader of the table, this sees the rows as of the last flush.
Result<SessionEventList> SessionEvents(Db& db, std::string_view id,
                                       size_t max_events = kTimelineMaxEvents,
                                       std::chrono::milliseconds budget = kSessionEventsBudget);

// The session state an event leads to, given the state before it (events
// taken in time order, starting from "establishing"): closed/denied →
// finished, which nothing leaves; stalled → stalling; recovered → running;
// started/updated → running unless stalling (only a recovery ends a stall);
// every other phase (opened, connected, authorized, altered, …) keeps the
// state. The same rules as docs/session-model.md, replayed in time order.
std::string_view StateAfter(std::string_view previous, std::string_view phase);

// {"session":{…every column but merge_state…}, "stalls":[{start_at,end_at}],
//  "events":[{seq, received_at, utc_ms, server, event, phase, state, body}],
//  "events_complete":bool (false: the list stops early, see SessionEvents),
//  "source":{"session":{…}, "stalls":[…]} or null}
// `source` is the session named by source_id, with its stalls. nullopt when
// no session has that id.
Result<std::optional<std::string>> SessionTimelineJson(Db& db, std::string_view id);

// Appends the current row of `s` as a JSON object (column names as keys;
// integers, reals, text, NULL as null), skipping columns named in `skip`
// and BLOB columns (internal encodings). Text is written as valid UTF-8.
void AppendRowJson(std::string* out, const Stmt& s, std::string_view skip = {});

// AppendJsonString for text that may hold bytes that are not UTF-8: each
// such byte is written as U+FFFD, so the answer is always valid JSON.
void AppendJsonUtf8(std::string* out, std::string_view s);

}  // namespace sink
