// nginx-rtmp notify callbacks → Events. The rules, with the captures they
// come from, are in docs/platforms.md ("nginx-rtmp").
//
// Two halves (the second in nginx_rtmp_stored.cc):
//   - NginxRtmp::Callback decides what nginx cannot say (which session a
//     call belongs to, when it opened and started, the stream of a relay)
//     with its map of connections, and writes the decisions and the
//     callback's fields into one JSON object, the event's stored body;
//   - ParseNginxRtmpStored turns such a body into the Event, with no state.
//     Callback runs it on the body it just wrote, so a body read back from
//     the events table gives the very Event the sink stored.
#include "ingest/platforms/nginx_rtmp.h"

#include <algorithm>
#include <charconv>
#include <unordered_set>
#include <utility>

#include "ingest/platforms/nginx_rtmp_stored.h"
#include "ingest/platforms/platforms.h"
#include "ingest/platforms/record.h"
#include "store/json_text.h"
#include "store/text.h"

namespace sink {

namespace {

using nginx_rtmp::Decision;
using nginx_rtmp::IsClose;
using nginx_rtmp::StoredBody;
using nginx_rtmp::StoredFields;

// The later closes of a session (nginx sends *_done, done and disconnect,
// in any order, within milliseconds) still find it this long after its
// first close; a close after that is of another session (the number was
// reused after an nginx restart) and finds none.
constexpr int64_t kCloseGraceMs = 60 * 1000;
// An update says how long ago its session began (`time`, whole seconds
// since the publish/play command). It belongs to a remembered session only
// if that session opened within this much of it: the second is truncated,
// and the callback travels (nginx answers queue up behind slow sinks).
constexpr int64_t kUpdateSlackMs = 5000;
// Sessions remembered per connection (an RTMP connection may carry several
// streams; ffmpeg, OBS and nginx's relays use one).
constexpr size_t kEntriesPerConnection = 8;
// How often, at most, the map is swept for connections past the retention.
constexpr int64_t kEvictEveryMs = 1000;
// An update's `time` (seconds) beyond this is not nginx's: ignored.
constexpr int64_t kMaxUpdateSeconds = 10ll * 366 * 86400;

// ---- the form ----------------------------------------------------------

// Replaces what is not UTF-8 by U+FFFD, so that the value can be JSON text.
std::string ValidUtf8(std::string s) {
  if (simdjson::validate_utf8(s)) return s;
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n > 0 && i + n <= s.size() && simdjson::validate_utf8(s.data() + i, n)) {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// nginx escapes its own values (space as %20, never '+'), and appends the
// client's stream arguments as the client wrote them. So: %XX is decoded, a
// '%' not followed by two hex digits stays as it is, and '+' stays '+'
// (a client's token "a+b" keeps its plus).
std::string Decode(std::string_view s) {
  bool malformed = false;  // kept as written
  return ValidUtf8(PercentDecode(s, /*plus_is_space=*/false, &malformed));
}

// The callback's fields: the first occurrence of each key, in order (nginx
// writes its own fields first; a client's stream arguments come after and
// may repeat them: `…&call=publish&name=cam2&call=play_done&name=spoof`).
struct Form {
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<std::string> repeated;  // keys seen more than once, in order
  // Field index by key, and the repeated keys (a body of many fields must
  // not cost quadratic time).
  std::unordered_map<std::string, size_t> index;
  std::unordered_set<std::string> repeated_set;

  const std::string* Get(const std::string& key) const {
    auto it = index.find(key);
    return it == index.end() ? nullptr : &fields[it->second].second;
  }
  std::string Value(const std::string& key) const {
    const std::string* v = Get(key);
    return v ? *v : std::string();
  }
};

Form ParseForm(std::string_view text) {
  Form f;
  for (const FormPair& pair : FormPairs(text)) {
    std::string key = Decode(pair.key);
    if (key.empty()) continue;
    if (f.index.count(key) > 0) {
      if (f.repeated_set.insert(key).second) f.repeated.push_back(std::move(key));
      continue;
    }
    f.index.emplace(key, f.fields.size());
    f.fields.emplace_back(std::move(key), Decode(pair.value));
  }
  return f;
}

std::optional<int64_t> Number(const std::string* s) {
  if (s == nullptr) return std::nullopt;
  const std::optional<int64_t> v = WholeInt64(*s);
  if (!v || *v < 0) return std::nullopt;
  return v;
}

// "publish", "play" or "" (done, disconnect, record_done: either role).
std::string_view RoleOf(std::string_view call) {
  if (call == "publish" || call == "update_publish" || call == "publish_done") return "publish";
  if (call == "play" || call == "update_play" || call == "play_done") return "play";
  return "";
}

}  // namespace

bool ValidInstance(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// ---- the map -----------------------------------------------------------

// One session of a connection.
struct NginxRtmp::Entry {
  std::string id;
  std::string role;    // publish | play
  std::string stream;  // app/name as the calls say it ("/name" for a relay)
  std::string kind;    // publish | play | push
  std::string media;
  int64_t opened_at = 0;
  std::optional<int64_t> started_at;
  std::optional<int64_t> closed_at;  // the first close
  int64_t last_at = 0;               // latest callback
  int64_t created_by = 0;            // event_id of the callback that started it
};

// The sessions of one (instance, clientid), oldest first.
struct NginxRtmp::Conn {
  std::string instance;
  std::vector<Entry> entries;
  int64_t last_at = 0;
};

NginxRtmp::NginxRtmp(NginxRtmpOptions options, int64_t first_event_id)
    : options_(std::move(options)), next_event_id_(first_event_id) {}

NginxRtmp::~NginxRtmp() = default;

size_t NginxRtmp::tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return conns_.size();
}

NginxRtmp::Conn& NginxRtmp::Touch(const ConnKey& key, int64_t now) {
  auto [it, fresh] = conns_.try_emplace(key);
  Conn& c = it->second;
  if (fresh) {
    c.instance = key.substr(0, key.find('\0'));
  } else {
    lru_.erase({c.last_at, key});
  }
  c.last_at = std::max(c.last_at, now);
  lru_.insert({c.last_at, key});
  return c;
}

void NginxRtmp::SetLive(const std::string& instance, const Entry& e, int delta) {
  if (e.role != "publish") return;
  const size_t slash = e.stream.find('/');
  auto key = std::make_tuple(instance, e.stream.substr(slash + 1), e.stream.substr(0, slash));
  std::multiset<int64_t>& opened = live_[key];
  if (delta > 0) {
    opened.insert(e.opened_at);
  } else if (auto it = opened.find(e.opened_at); it != opened.end()) {
    opened.erase(it);
  }
  if (opened.empty()) live_.erase(key);
}

std::optional<std::string> NginxRtmp::LiveSource(const std::string& instance,
                                                 std::string_view name) const {
  std::optional<std::string> best;
  int64_t best_at = 0;
  const std::string n(name);
  for (auto it = live_.lower_bound(std::make_tuple(instance, n, std::string()));
       it != live_.end() && std::get<0>(it->first) == instance && std::get<1>(it->first) == n;
       ++it) {
    const int64_t at = *it->second.begin();
    if (!best || at < best_at) {
      best = std::get<2>(it->first) + "/" + n;
      best_at = at;
    }
  }
  return best;
}

void NginxRtmp::Close(const Conn& c, Entry& e, int64_t at) {
  if (e.closed_at && *e.closed_at <= at) return;
  if (!e.closed_at) SetLive(c.instance, e, -1);
  e.closed_at = at;
}

NginxRtmp::Entry* NginxRtmp::Find(Conn& c, std::string_view role, std::string_view stream,
                                  int64_t now) {
  for (auto it = c.entries.rbegin(); it != c.entries.rend(); ++it) {
    if ((role.empty() || it->role == role) && it->stream == stream) {
      if (!it->closed_at || now - *it->closed_at <= kCloseGraceMs) return &*it;
      return nullptr;  // the newest session of that stream is over
    }
  }
  return nullptr;
}

void NginxRtmp::Evict(int64_t now) {
  if (now - last_evict_ < kEvictEveryMs && conns_.size() <= options_.max_connections) return;
  last_evict_ = now;
  while (!lru_.empty() && (lru_.begin()->first < now - options_.retention_ms ||
                           conns_.size() > options_.max_connections)) {
    auto it = conns_.find(lru_.begin()->second);
    lru_.erase(lru_.begin());
    if (it == conns_.end()) continue;
    for (const Entry& e : it->second.entries) {
      if (!e.closed_at) SetLive(it->second.instance, e, -1);
    }
    conns_.erase(it);
  }
}

Result<ParsedBody> NginxRtmp::Callback(std::string_view instance, std::string_view form,
                                       int64_t received_at) {
  const Form f = ParseForm(form);
  const std::string call = f.Value("call");
  if (call.empty()) return Status::Invalid("not an nginx-rtmp callback: no \"call\" field");
  const std::string app = f.Value("app");
  const std::string name = f.Value("name");
  const std::string stream = app + "/" + name;
  const std::optional<int64_t> clientid = Number(f.Get("clientid"));
  const std::string_view role = RoleOf(call);
  // nginx's own relay, playing the stream to push it elsewhere: a push.
  const bool relay = f.Value("flashver") == "ngx-local-relay" && app.empty();
  const std::string kind = role == "publish" ? "publish" : relay ? "push" : "play";
  auto arg = [&f](const std::string& key) -> std::optional<std::string> {
    const std::string* v = key.empty() ? nullptr : f.Get(key);
    if (v == nullptr || v->empty()) return std::nullopt;
    return *v;
  };
  const std::optional<std::string> user = arg(options_.user_arg);
  const std::optional<std::string> token = arg(options_.token_arg);
  const std::string inst(instance);

  std::vector<Decision> decisions;
  std::vector<int64_t> ids;  // event_id of each decision
  {
    std::lock_guard<std::mutex> lock(mu_);
    Evict(received_at);
    const int64_t event_id = next_event_id_++;
    auto decide = [&](const Entry& e) {
      Decision d;
      d.id = e.id;
      d.kind = e.kind;
      d.media = e.media;
      d.opened_at = e.opened_at;
      d.started_at = e.started_at;
      decisions.push_back(std::move(d));
    };
    // A new session of this connection, opened at `opened`.
    auto start = [&](Conn& c, int64_t opened) -> Entry& {
      Entry e;
      e.role = std::string(role);
      e.stream = stream;
      e.kind = kind;
      e.media = relay ? LiveSource(inst, name).value_or(name) : stream;
      e.opened_at = opened;
      e.last_at = received_at;
      e.created_by = event_id;
      // Every part but the last has no '/' (the instance is escaped, the
      // rest are numbers and a fixed role), so the stream name, which may
      // hold one, cannot make two connections' ids meet.
      e.id = "nginx-rtmp/" + IdPart(inst) + "/" + std::to_string(opened) + "/" +
             std::to_string(*clientid) + "/" + e.role + "/" + stream;
      if (c.entries.size() >= kEntriesPerConnection) {
        if (!c.entries.front().closed_at) SetLive(c.instance, c.entries.front(), -1);
        c.entries.erase(c.entries.begin());
      }
      // Oldest first (an update of a lost play opens in the past).
      auto pos = std::find_if(c.entries.begin(), c.entries.end(),
                              [&](const Entry& x) { return x.opened_at > opened; });
      Entry& added = *c.entries.insert(pos, std::move(e));
      SetLive(c.instance, added, +1);
      return added;
    };
    const ConnKey key = inst + '\0' + (clientid ? std::to_string(*clientid) : "");
    if (clientid && !role.empty() && !name.empty() && (call == "publish" || call == "play")) {
      Conn& c = Touch(key, received_at);
      Entry& e = start(c, received_at);
      // A play is started when its stream is being published here; a
      // player waiting for a stream nobody publishes has not (yet).
      if (kind != "play" || live_.count(std::make_tuple(inst, name, app)) > 0) {
        e.started_at = received_at;
      }
      decide(e);
    } else if (clientid && !role.empty() && !name.empty() &&
               (call == "update_publish" || call == "update_play")) {
      std::optional<int64_t> secs = Number(f.Get("time"));
      if (secs && (*secs > kMaxUpdateSeconds || *secs * 1000 >= received_at)) secs.reset();
      const std::optional<int64_t> stream_ms = Number(f.Get("timestamp"));
      // When the session began, by the update (nginx's clock is not sent).
      const int64_t began = received_at - secs.value_or(0) * 1000;
      Conn& c = Touch(key, received_at);
      Entry* found = nullptr;
      for (auto it = c.entries.rbegin(); it != c.entries.rend() && !found; ++it) {
        if (it->role != role || it->stream != stream) continue;
        if (it->closed_at && received_at - *it->closed_at > kCloseGraceMs) continue;
        if (secs && std::abs(began - it->opened_at) > kUpdateSlackMs) continue;
        found = &*it;
      }
      if (found == nullptr) {
        // Its publish/play was not recorded: a session of its own, from
        // when the update says it began.
        found = &start(c, began);
        if (kind != "play" || stream_ms.value_or(0) > 0) found->started_at = found->opened_at;
      } else if (!found->started_at && stream_ms.value_or(0) > 0) {
        found->started_at = received_at;  // the first sign that media flows
      }
      found->last_at = std::max(found->last_at, received_at);
      decide(*found);
      if (secs) decisions.back().duration_ms = *secs * 1000;
    } else if (clientid && IsClose(call)) {
      Conn* c = nullptr;
      if (auto it = conns_.find(key); it != conns_.end()) c = &Touch(key, received_at);
      std::vector<Entry*> ended;
      if (c != nullptr && call != "disconnect") {
        if (!name.empty()) {
          if (Entry* e = Find(*c, role, stream, received_at)) ended.push_back(e);
        }
      } else if (c != nullptr && !c->entries.empty()) {
        // The connection's end: its newest session, and any older one
        // still heard from since that one began (two streams at once).
        const Entry* newest = &c->entries.back();
        for (Entry& e : c->entries) {
          if (&e != newest && e.last_at < newest->opened_at) continue;
          if (e.closed_at && received_at - *e.closed_at > kCloseGraceMs) continue;
          ended.push_back(&e);
        }
      }
      for (Entry* e : ended) {
        Close(*c, *e, received_at);
        e->last_at = std::max(e->last_at, received_at);
        decide(*e);
        // To its first close: the later ones repeat it.
        decisions.back().duration_ms = std::max<int64_t>(0, *e->closed_at - e->opened_at);
      }
    }
    if (decisions.empty()) {
      Decision d;  // stored, no session
      if (!name.empty()) d.media = stream;
      decisions.push_back(std::move(d));
    }
    ids.push_back(event_id);
    for (size_t i = 1; i < decisions.size(); ++i) ids.push_back(next_event_id_++);
  }

  ParsedBody out;
  for (size_t i = 0; i < decisions.size(); ++i) {
    Result<Event> e =
        ParseNginxRtmpStored(StoredBody(instance, call, received_at, ids[i], decisions[i], f.fields,
                                        f.repeated, user, token),
                             received_at);
    if (!e.ok()) return e.status();
    out.events.push_back(std::move(e.value()));
  }
  return out;
}

void NginxRtmp::Forget(const std::vector<Event>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Event& ev : events) {
    if (!ev.id || !ev.server || !ev.external_id || !ev.event_id) continue;
    auto it = conns_.find(*ev.server + '\0' + *ev.external_id);
    if (it == conns_.end()) continue;
    std::vector<Entry>& entries = it->second.entries;
    for (auto e = entries.begin(); e != entries.end(); ++e) {
      if (e->id == *ev.id && e->created_by == *ev.event_id) {
        if (!e->closed_at) SetLive(it->second.instance, *e, -1);
        entries.erase(e);
        break;
      }
    }
  }
}

void NginxRtmp::Restore(std::string_view body, int64_t received_at) {
  Result<Event> parsed = ParseNginxRtmpStored(body, received_at);
  if (!parsed.ok()) return;
  const Event& ev = parsed.value();
  std::lock_guard<std::mutex> lock(mu_);
  if (ev.event_id && *ev.event_id >= next_event_id_) next_event_id_ = *ev.event_id + 1;
  if (!ev.id || !ev.server || !ev.external_id || !ev.opened_at) return;
  // The callback's own fields, for the stream as the calls spell it.
  std::unique_ptr<simdjson::dom::parser> big;
  simdjson::dom::parser& parser = ParserFor(body.size(), &big);
  simdjson::dom::element root;
  simdjson::dom::object cb;
  if (parser.parse(body.data(), body.size()).get(root) ||
      root["callback"].get_object().get(cb) != simdjson::SUCCESS) {
    return;
  }
  const StoredFields c{cb};
  const std::string call = c.Text("call").value_or("");
  Conn& conn = Touch(*ev.server + '\0' + *ev.external_id, received_at);
  Entry* entry = nullptr;
  for (Entry& e : conn.entries) {
    if (e.id == *ev.id) entry = &e;
  }
  if (entry == nullptr) {
    if (call == "disconnect") return;  // no stream to restore it by
    Entry e;
    e.id = *ev.id;
    e.role = ev.kind == "publish" ? "publish" : "play";
    e.stream = c.Text("app").value_or("") + "/" + c.Text("name").value_or("");
    e.kind = ev.kind;
    e.media = ev.media.value_or(e.stream);
    e.opened_at = *ev.opened_at;
    e.created_by = ev.event_id.value_or(0);
    auto pos = std::find_if(conn.entries.begin(), conn.entries.end(),
                            [&](const Entry& x) { return x.opened_at > e.opened_at; });
    entry = &*conn.entries.insert(pos, std::move(e));
    SetLive(conn.instance, *entry, +1);
    if (conn.entries.size() > kEntriesPerConnection) {
      if (!conn.entries.front().closed_at) SetLive(conn.instance, conn.entries.front(), -1);
      conn.entries.erase(conn.entries.begin());
      entry = nullptr;
      for (Entry& x : conn.entries) {
        if (x.id == *ev.id) entry = &x;
      }
      if (entry == nullptr) return;
    }
  }
  if (ev.started_at && (!entry->started_at || *ev.started_at < *entry->started_at)) {
    entry->started_at = ev.started_at;
  }
  entry->last_at = std::max(entry->last_at, received_at);
  if (IsClose(call)) Close(conn, *entry, received_at);
}

}  // namespace sink
