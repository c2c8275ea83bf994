// Limits on what one request may cost the sink, whatever its size on the
// wire. Each is named here with the reason for its value; the README's
// "What it accepts and answers" states them to senders. Internal to ingest/.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sink::limits {

// --- The request head (server/http_framing) ---------------------------------
// The request line: method, target (path and query) and version. Longer: 414.
// Flussonic's sink URL with its token is well under 1 KiB.
inline constexpr size_t kMaxRequestLine = 8192;
// One header field line ("Name: value"). Longer: 431.
inline constexpr size_t kMaxHeaderLine = 8192;
// The whole head, request line and fields. Larger: 431.
inline constexpr size_t kMaxHeadBytes = 32 * 1024;
// Header fields per request. More: 431. curl sends 3–5, Flussonic about 6,
// a browser about 20.
inline constexpr size_t kMaxHeaderFields = 100;
// A chunk-size line of a chunked body: the hex size and any extensions
// (which are ignored). Longer: 400.
inline constexpr size_t kMaxChunkLine = 1024;
// Trailer fields after the last chunk, all together (read and dropped).
inline constexpr size_t kMaxTrailerBytes = 8192;
// Blank lines tolerated before a request line (RFC 9112 §2.2 asks servers
// to skip at least one after a previous body).
inline constexpr size_t kMaxLeadingBlankLines = 4;

// --- One POST /events… body ---------------------------------------------------
// Items (events and non-events) in one request. More: 413, nothing stored.
// The default --max-body-bytes (64 MiB) holds about 220,000 real events of
// 300 bytes, so real batches stay below this; what it stops is a body of
// tiny items ("[1,1,…]": 32 M in 64 MiB) costing a row and an answer entry
// each.
inline constexpr size_t kMaxItemsPerRequest = 250000;
// Items of one request kept one by one in `rejected`; past this, the other
// non-event items of the request are counted in one summary row.
inline constexpr size_t kMaxRejectRowsPerRequest = 100;
// Entries of the answer's `errors` array; `rejected` still counts them all.
inline constexpr size_t kMaxErrorsInAnswer = 100;
// Bytes of an unreadable body kept in its dead letter (the first ones; the
// reason gives the full size when it was larger).
inline constexpr size_t kMaxDeadLetterBodyBytes = 1u << 20;
// A request with more events than this is committed in steps of this many
// (several writer transactions, answered after the last): other clients'
// requests commit between the steps instead of waiting for the whole batch.
inline constexpr size_t kEventsPerStep = 5000;

// --- Times -------------------------------------------------------------------
// How far ahead of the sink's clock (the request's receive time) a sender's
// clock may be. A time later than that is one no clock could have produced
// for an event that already happened: it is dropped from the event (kept in
// its body), so it drives no restart, no session end and no idle logic, and
// the event is counted (sessionsink_events_future_times_total, the answer's
// "future_times"). docs/session-model.md, "Clocks".
inline constexpr int64_t kMaxClockSkewMs = 3600 * 1000;

// Reports have theirs in query/report.h (kMaxReportBuckets, kMaxReportLimit).

}  // namespace sink::limits
