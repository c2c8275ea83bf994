#include "tests/test_util.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/compact_segment.h"
#include "store/log_reader.h"
#include "store/segment_log.h"

namespace sink::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sessionsink-test-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  if (p == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
  }
  path_ = tmpl;
}

NotifySocket::NotifySocket(const std::string& path) : path_(path) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::chmod(path.c_str(), 0666);  // a service running as another user sends to it
  timeval tv{0, 100000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

NotifySocket::~NotifySocket() {
  ::close(fd_);
  ::unlink(path_.c_str());
}

std::string NotifySocket::WaitFor(const std::string& what, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) continue;
    const std::string msg(buf, static_cast<size_t>(n));
    seen_ += msg + "\n---\n";
    if (msg.find(what) != std::string::npos) return msg;
  }
  return "";
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

int64_t PeakRssKib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Result<ParsedBody> Parse(std::string_view body) {
  std::string buf(body);
  buf.append(simdjson::SIMDJSON_PADDING, ' ');
  return ParseBody(simdjson::padded_string_view(buf.data(), body.size(), buf.size()));
}

std::vector<NginxCallback> ReadNginxCallbacks(const std::string& text) {
  std::vector<NginxCallback> out;
  std::stringstream ss(text);
  std::string line;
  int n = 0;
  while (std::getline(ss, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const size_t a = line.find(' ');
    const size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
    if (b == std::string::npos) {
      ADD_FAILURE() << "line " << n << ": expected <received_at> <instance> <form>: " << line;
      continue;
    }
    NginxCallback c;
    c.received_at = std::stoll(line.substr(0, a));
    c.instance = line.substr(a + 1, b - a - 1);
    c.form = line.substr(b + 1);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<WriteBatch> NginxBatches(NginxRtmp& adapter,
                                     const std::vector<NginxCallback>& callbacks) {
  std::vector<WriteBatch> out;
  for (const NginxCallback& c : callbacks) {
    Result<ParsedBody> p = adapter.Callback(c.instance, c.form, c.received_at);
    WriteBatch b;
    b.received_at = c.received_at;
    b.remote_addr = "127.0.0.1";
    if (p.ok()) {
      b.events = std::move(p->events);
    } else {
      b.rejects.push_back(Reject{-1, p.status().message(), c.form, c.instance});
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<Event> Lifecycle(std::mt19937& rng, const std::string& id) {
  static const char* kinds[] = {"play", "push", "publish", "ingest", "stream"};
  const std::string kind = kinds[rng() % 5];
  int64_t t = 1637094994000 + static_cast<int64_t>(rng() % 100000);
  std::vector<Event> ev;
  auto add = [&](const std::string& phase_name, Phase phase) {
    Event e;
    e.name = kind + "_" + phase_name;
    e.kind = kind;
    e.kind_explicit = true;
    e.phase = phase;
    e.id = id;
    e.server = "edge" + std::to_string(rng() % 2);
    e.utc_ms = t;
    e.event_id = static_cast<int64_t>(ev.size());
    e.media = "ch" + std::to_string(rng() % 3);
    e.ip = "10.0.0." + std::to_string(rng() % 4);
    if (rng() % 3 == 0) e.user_id = "user" + std::to_string(rng() % 3);
    e.bytes = static_cast<int64_t>(ev.size()) * 1000 + static_cast<int64_t>(rng() % 500);
    if (rng() % 4 == 0) {  // no utc_ms: the phase's own timestamp stands in
      e.utc_ms.reset();
      e.opened_at = e.started_at = e.updated_at = e.closed_at = t;
    }
    e.body = "{\"event\":\"" + e.name + "\",\"id\":\"" + id + "\"}";
    ev.push_back(e);
    t += 1 + static_cast<int64_t>(rng() % 3000);
  };
  add("opened", Phase::kOpened);
  add("authorized", Phase::kAuthorized);
  add("started", Phase::kStarted);
  const int updates = static_cast<int>(rng() % 12);
  for (int i = 0; i < updates; ++i) {
    const uint32_t r = rng() % 6;
    if (r == 0) {
      add("stalled", Phase::kStalled);
    } else if (r == 1) {
      add("recovered", Phase::kRecovered);
    } else {
      add("updated", Phase::kUpdated);
    }
  }
  if (rng() % 4 != 0) {
    add("closed", Phase::kClosed);
    ev.back().reason = rng() % 2 ? std::string(R"({"status":"ok"})") : std::string("timeout");
    ev.back().duration_ms = (t - 1637094994000) / 1000 * 1000;
  }
  return ev;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ExposeLog(Db& db) {
  Result<int64_t> has = db.QueryInt(
      "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'events') + (SELECT count(*) FROM "
      "sqlite_temp_master WHERE name = 'events')");
  if (!has.ok() || has.value() > 0) return;
  const char* main_file = sqlite3_db_filename(db.get(), "main");
  if (main_file == nullptr || *main_file == '\0') return;
  Result<LogReader> log = LogReader::Open(main_file);
  if (!log.ok()) return;  // no log beside this file
  // Every event (raw or compact segments alike) read through the log's own
  // reader into temporary tables with the raw form's columns: a snapshot.
  EXPECT_TRUE(db.Exec("CREATE TEMP TABLE events (seq INTEGER PRIMARY KEY, received_at INTEGER, "
                      "server TEXT, event TEXT, kind TEXT, phase TEXT, session_id TEXT, utc_ms "
                      "INTEGER, event_id INTEGER, dedup INTEGER, body TEXT, platform TEXT); "
                      "CREATE TEMP TABLE log_rejected (segment INTEGER, id INTEGER, after_seq "
                      "INTEGER, received_at INTEGER, remote_addr TEXT, reason TEXT, item_index "
                      "INTEGER, server TEXT, body BLOB)")
                  .ok());
  Result<Stmt> put =
      db.Prepare("INSERT INTO temp.events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  Result<Stmt> rej = db.Prepare("INSERT INTO temp.log_rejected VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  EXPECT_TRUE(put.ok() && rej.ok());
  if (!put.ok() || !rej.ok()) return;
  Status st = log->ForEachAfter(0, [&](const LogRecord& r) {
    put->Bind(1, r.seq);
    put->Bind(2, r.received_at);
    put->Bind(3, r.server);
    put->Bind(4, std::string_view(r.event));
    put->Bind(5, r.kind);
    put->Bind(6, r.phase);
    put->Bind(7, r.session_id);
    put->Bind(8, r.utc_ms);
    put->Bind(9, r.event_id);
    put->Bind(10, r.dedup);
    put->Bind(11, std::string_view(r.body));
    put->Bind(12, r.platform);
    return put->RunAndReset();
  });
  EXPECT_TRUE(st.ok()) << "reading the event log of " << main_file << ": " << st.ToString();
  st = log->ForEachRejectAfter(-1, [&](const LogReject& r) {
    rej->Bind(1, r.segment);
    rej->Bind(2, r.rowid);
    rej->Bind(3, r.after_seq);
    rej->Bind(4, r.received_at);
    rej->Bind(5, r.remote_addr);
    rej->Bind(6, std::string_view(r.reason));
    rej->Bind(7, r.item_index);
    rej->Bind(8, r.server);
    rej->BindBlob(9, r.body);
    return rej->RunAndReset();
  });
  EXPECT_TRUE(st.ok()) << "reading the log's dead letters of " << main_file << ": "
                       << st.ToString();
}

std::vector<std::string> QueryRows(Db& db, const std::string& sql) {
  std::vector<std::string> rows;
  std::string lower = sql;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* t : {"from events", "join events", "from log_rejected"}) {
    if (lower.find(t) != std::string::npos) ExposeLog(db);
  }
  Result<Stmt> s = db.Prepare(sql);
  EXPECT_TRUE(s.ok()) << s.status().ToString() << " in " << sql;
  if (!s.ok()) return rows;
  for (;;) {
    Result<bool> r = s->Step();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !r.value()) break;
    std::string line;
    for (int c = 0; c < s->ColumnCount(); ++c) {
      if (c) line += '\t';
      line += s->IsNull(c) ? std::string("NULL") : std::string(s->Text(c));
    }
    rows.push_back(std::move(line));
  }
  return rows;
}

std::vector<std::string> QueryRows(const std::string& db_path, const std::string& sql) {
  Result<Db> db = Db::Open(db_path, false, /*read_only=*/true);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return {};
  return QueryRows(db.value(), sql);
}

rd_kafka_t* ConsumerFromStart(const std::string& brokers, const std::string& topic, int partitions,
                              bool eof) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "sessionsink-test", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  if (eof) rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  EXPECT_NE(rk, nullptr) << err;
  if (rk == nullptr) return nullptr;
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  return rk;
}

}  // namespace sink::test
