// NginxRtmp: nginx's RTMP module notify callbacks (on_publish, on_play,
// on_update, on_*_done, on_done, on_connect, on_disconnect, on_record_done)
// → Events of publish, play and push sessions. POST (or GET)
// /events/nginx-rtmp/<instance>; docs/platforms.md has the mapping.
//
// nginx sends no session id and no time: a session is nginx's connection
// number (`clientid`, reused after every nginx restart) with a role
// (publish/play) and a stream (app/name). Each publish or play call starts a
// new session whose id is built from the instance, the call's receive time
// (the sink's clock), clientid, role and stream; the later calls of that
// (instance, clientid, role, stream) find it in a bounded in-memory map.
// Everything the map decided is written into the stored event body (a JSON
// object: the sink's decisions, then the callback's fields, the first
// occurrence of each key), so ParseNginxRtmpStored (platforms.h) gives the
// same Event again from the body alone, with no state.
//
// Thread-safety: every method may be called from any thread (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "ingest/body_items.h"

namespace sink {

struct NginxRtmpOptions {
  // Stream arguments (rtmp://host/app/name?token=…&user=…) that become the
  // session's token and user_id.
  std::string token_arg = "token";
  std::string user_arg = "user";
  // How long a session with no callback stays in the map: the sink's idle
  // timeout (--session-timeout), after which the writer finishes it anyway.
  int64_t retention_ms = 10 * 60 * 1000;
  // Bound on the connections remembered; past it the least recently active
  // are forgotten (their later calls then start sessions of their own).
  // About 0.3 KiB each.
  size_t max_connections = 100000;
};

class NginxRtmp {
 public:
  // `first_event_id`: where the events' event_id numbering starts (the
  // sink uses its start time in µs, so numbers never repeat across runs).
  NginxRtmp(NginxRtmpOptions options, int64_t first_event_id);
  ~NginxRtmp();

  // One callback: `form` is the POST body or the GET query (nginx's
  // application/x-www-form-urlencoded text), `instance` the name from the
  // URL, `received_at` the sink's clock (ms). Gives one event (a disconnect
  // that ends several sessions of a connection gives one per session).
  // Error (kInvalid): not a callback — no `call` field, or empty.
  // REQUIRES: `instance` is a valid instance name (ValidInstance).
  Result<ParsedBody> Callback(std::string_view instance, std::string_view form,
                              int64_t received_at);

  // The store could not keep `events` (from Callback): forget the sessions
  // they started, so that the next call of that connection starts its own
  // (dated back by its `time`) instead of joining a session with no start.
  void Forget(const std::vector<Event>& events);

  // Rebuilds the map from one stored event (events.body and received_at),
  // at start, in arrival order. Bodies that are not nginx-rtmp events are
  // ignored.
  void Restore(std::string_view body, int64_t received_at);

  // Connections currently remembered (for tests and /metrics).
  size_t tracked() const;

 private:
  struct Entry;
  struct Conn;
  using ConnKey = std::string;  // instance '\0' clientid

  Entry* Find(Conn& c, std::string_view role, std::string_view stream, int64_t now);
  Conn& Touch(const ConnKey& key, int64_t now);
  void Close(const Conn& c, Entry& e, int64_t at);
  void Evict(int64_t now);
  void SetLive(const std::string& instance, const Entry& e, int delta);
  // app/name of the earliest live publish of `name` on `instance`, if any.
  std::optional<std::string> LiveSource(const std::string& instance, std::string_view name) const;

  const NginxRtmpOptions options_;
  mutable std::mutex mu_;
  int64_t next_event_id_;                      // guarded by mu_
  std::unordered_map<ConnKey, Conn> conns_;    // guarded by mu_
  std::set<std::pair<int64_t, ConnKey>> lru_;  // (last activity, key); guarded by mu_
  // Open publish sessions: (instance, name, app) → opened_at of each.
  std::map<std::tuple<std::string, std::string, std::string>, std::multiset<int64_t>>
      live_;                // guarded by mu_
  int64_t last_evict_ = 0;  // guarded by mu_
};

// True for a name usable as <instance> in the URL: 1-64 of [A-Za-z0-9._-].
bool ValidInstance(std::string_view s);

}  // namespace sink
