// Hostile input against the real binary: request framing (raw sockets, since
// an HTTP client cannot say these bytes), amplification, reports that would
// cost unbounded memory, times at the edge of int64, and the safe defaults.
// Every test ends by checking the sink is still healthy: /healthz answers at
// once and PRAGMA integrity_check is ok. The bytes differ from those of the
// probe that found the defects (../shared/reviews/probe.md): each test
// covers the class.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using Clock = std::chrono::steady_clock;

using test::Gzip;
using test::PeakRssKib;

// A raw TCP connection to the sink.
class Conn {
 public:
  explicit Conn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  void Send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close early: that is allowed
      off += static_cast<size_t>(n);
    }
  }
  void HalfClose() { ::shutdown(fd_, SHUT_WR); }
  // Reads until the server closes the connection or `timeout` passes.
  // `closed` tells which.
  std::string ReadAll(std::chrono::milliseconds timeout, bool* closed = nullptr) {
    std::string out;
    const auto end = Clock::now() + timeout;
    bool eof = false;
    while (Clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    if (closed) *closed = eof;
    return out;
  }

 private:
  int fd_ = -1;
};

// The status codes of the answers in `bytes`, in order.
std::vector<int> Statuses(const std::string& bytes) {
  std::vector<int> out;
  static const std::regex kLine("HTTP/1\\.1 ([0-9]{3}) ");
  for (auto it = std::sregex_iterator(bytes.begin(), bytes.end(), kLine);
       it != std::sregex_iterator(); ++it) {
    out.push_back(std::stoi((*it)[1]));
  }
  return out;
}

// What a 60,000-event batch may peak the sink at; the sanitizers' shadow
// memory (and ASan's quarantine) come on top in their builds.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int64_t kBigBatchRssKib = 1500 * 1024;
#else
constexpr int64_t kBigBatchRssKib = 400 * 1024;
#endif

std::string Post(const std::string& body, const std::string& extra = "",
                 const std::string& path = "/events") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         extra + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string Event(const std::string& id, int64_t event_id = 1) {
  return R"({"event":"play_opened","id":")" + id + R"(","server":"edge7","event_id":)" +
         std::to_string(event_id) + R"(,"utc_ms":1764000000000})";
}

class HostileTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}) {
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--token") token_ = args[i + 1];
    }
    args.insert(args.begin(), {"--db", db_});
    ASSERT_TRUE(sink_.Start(args)) << sink_.log();
    cli_ = std::make_unique<httplib::Client>("127.0.0.1", sink_.port());
    cli_->set_read_timeout(60, 0);
  }

  void TearDown() override {
    if (sink_.pid() < 0 || stopped_) return;
    // Still healthy: a fresh client gets /healthz at once, the file is intact.
    httplib::Client c("127.0.0.1", sink_.port());
    const auto t0 = Clock::now();
    auto r = c.Get("/healthz");
    ASSERT_TRUE(r) << sink_.log();
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
    EXPECT_EQ(One("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(sink_.Stop(SIGTERM), 0) << sink_.log();
  }

  // The main file's tables lag the answers by up to --session-flush: a
  // running sink writes them first (POST /flush).
  std::string One(const std::string& sql) {
    if (sink_.pid() > 0 && !stopped_) (void)sink_.Flush(token_);
    auto rows = test::QueryRows(db_, sql);
    return rows.empty() ? "<no row>" : rows[0];
  }
  int64_t Count(const std::string& table, const std::string& where = "1") {
    return std::stoll(One("SELECT count(*) FROM " + table + " WHERE " + where));
  }

  // Sends `bytes` on a new connection and reads until the sink closes it
  // (asserted to happen within `within`).
  std::string Exchange(const std::string& bytes,
                       std::chrono::milliseconds within = std::chrono::milliseconds(3000)) {
    Conn c(sink_.port());
    c.Send(bytes);
    bool closed = false;
    std::string out = c.ReadAll(within, &closed);
    EXPECT_TRUE(closed) << "the sink kept the connection open after: " << out;
    return out;
  }

  test::TempDir tmp_;
  std::string db_ = tmp_.File("sessions.db");
  test::SinkProcess sink_;
  bool stopped_ = false;
  std::string token_;  // --token, for POST /flush
  std::unique_ptr<httplib::Client> cli_;
};

// --- Framing: smuggling and desync -------------------------------------------

TEST_F(HostileTest, BodyOfARefusedRequestIsNeverParsedAsTheNextRequest) {
  Start({"--max-body-bytes", "64KiB", "--token", "s3cret"});
  // 413: the declared body is over the limit; what follows must not be served.
  {
    Conn c(sink_.port());
    c.Send(
        "POST /events?token=s3cret HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 900000\r\n\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    c.Send(Post("[" + Event("hidden-413") + "]", "Authorization: Bearer s3cret\r\n"));
    bool closed = false;
    const std::string out = c.ReadAll(std::chrono::seconds(3), &closed);
    EXPECT_EQ(Statuses(out), std::vector<int>{413}) << out;
    EXPECT_TRUE(closed);
    EXPECT_EQ(out.find("Keep-Alive"), std::string::npos) << out;
  }
  // 401: the body holds a whole request with the right token.
  const std::string inner =
      Post("[" + Event("hidden-401") + "]", "Authorization: Bearer s3cret\r\n");
  const std::string out = Exchange("POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                                   std::to_string(inner.size()) + "\r\n\r\n" + inner);
  EXPECT_EQ(Statuses(out), std::vector<int>{401}) << out;
  EXPECT_EQ(Count("events"), 0);
}

TEST_F(HostileTest, AmbiguousContentLengthsAre400AndCloseTheConnection) {
  Start();
  const std::string body = "[" + Event("cl-a") + "]";
  const std::string smuggled = Post("[" + Event("cl-b") + "]");
  for (const std::string& fields :
       {std::string("Content-Length: 4\r\nContent-Length: ") + std::to_string(body.size()),
        std::string("Content-Length: ") + std::to_string(body.size()) + ", 4",
        std::string("content-length: ") + std::to_string(body.size()) +
            "\r\nContent-length: " + std::to_string(body.size()),
        std::string("Content-Length: ") + std::to_string(body.size()) +
            "\r\nTransfer-Encoding: chunked"}) {
    const std::string out = Exchange("POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields +
                                     "\r\n\r\n" + body + smuggled);
    EXPECT_EQ(Statuses(out), std::vector<int>{400}) << fields << "\n" << out;
  }
  EXPECT_EQ(Count("events"), 0);
  EXPECT_EQ(Count("rejected"), 0);
}

// A chunked body (no length declared) over --max-body-bytes: the body
// decoder counts it and the answer is 413, identity or gzip alike.
TEST_F(HostileTest, ChunkedBodyOverTheLimitIs413) {
  Start({"--max-body-bytes", "64KiB"});
  const std::string body = "[" + std::string(70 * 1024, ' ') + "]";
  std::string chunked;
  for (size_t i = 0; i < body.size(); i += 1000) {
    const std::string part = body.substr(i, 1000);
    char size[16];
    std::snprintf(size, sizeof size, "%zx", part.size());
    chunked += std::string(size) + "\r\n" + part + "\r\n";
  }
  chunked += "0\r\n\r\n";
  const std::string out = Exchange(
      "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked);
  EXPECT_EQ(Statuses(out), std::vector<int>{413}) << out.substr(0, 300);
  EXPECT_EQ(Count("rejected"), 0);
}

TEST_F(HostileTest, MalformedLengthsAre400AtOnce) {
  Start();
  for (const char* cl : {"+17", "17abc", "0x11", "-1", "1 7", "", "17.0", "\t"}) {
    const auto t0 = Clock::now();
    const std::string out =
        Exchange(std::string("POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ") + cl +
                 "\r\n\r\n[]");
    EXPECT_EQ(Statuses(out), std::vector<int>{400}) << "'" << cl << "': " << out;
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2)) << cl;
  }
  // Too large for 64 bits: certainly over the limit, 413 at once.
  const auto t0 = Clock::now();
  const std::string out = Exchange(
      "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 184467440737095516160\r\n\r\n");
  EXPECT_EQ(Statuses(out), std::vector<int>{413}) << out;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
}

TEST_F(HostileTest, ChunkedBodiesAreFramedStrictly) {
  Start();
  const std::string body = "[" + Event("chunk-ok") + "]";
  char size[16];
  std::snprintf(size, sizeof size, "%zX", body.size() - 10);
  // Valid: two chunks, an extension, a trailer field: accepted and stored.
  {
    Conn c(sink_.port());
    c.Send(std::string(
               "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: Chunked\r\n\r\n") +
           "a;name=value\r\n" + body.substr(0, 10) + "\r\n" + size + "\r\n" + body.substr(10) +
           "\r\n0\r\nX-Checksum: none\r\n\r\n");
    const std::string out = c.ReadAll(std::chrono::milliseconds(1500));
    EXPECT_EQ(Statuses(out), std::vector<int>{200}) << out;
    EXPECT_NE(out.find("\"accepted\":1"), std::string::npos) << out;
  }
  for (const char* chunk : {" 1a", "0X1a", "+1a", "1a ", "1g", "-1", "00000000000000001a"}) {
    const std::string out = Exchange(
        std::string(
            "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n") +
        chunk + "\r\n" + std::string(26, ' ') + "\r\n0\r\n\r\n");
    EXPECT_EQ(Statuses(out), std::vector<int>{400}) << "'" << chunk << "': " << out;
  }
  // Chunk data longer than its size.
  const std::string out = Exchange(
      "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
      "chunked\r\n\r\n2\r\n[]]\r\n0\r\n\r\n");
  EXPECT_EQ(Statuses(out), std::vector<int>{400}) << out;
  EXPECT_EQ(Count("events"), 1);
  EXPECT_EQ(Count("rejected"), 0);  // framing errors are not the sender's data
}

TEST_F(HostileTest, UnknownTransferCodingsAndUnframedPostsAreRefusedAtOnce) {
  Start();
  const std::vector<std::pair<std::string, int>> cases = {
      {"Transfer-Encoding: identity\r\n", 400},
      {"Transfer-Encoding: chunked, chunked\r\n", 400},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
      {"Transfer-Encoding: chunked;q=1\r\n", 400},
      {"Transfer-Encoding: gzip, chunked\r\n", 501},
      {"Transfer-Encoding\t: chunked\r\n", 400},
      {"Transfer-Encoding : chunked\r\n", 400},
      {"", 411},  // neither Content-Length nor Transfer-Encoding
  };
  for (const auto& [fields, status] : cases) {
    const auto t0 = Clock::now();
    const std::string out = Exchange("POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields +
                                     "\r\n5\r\n[1,2]\r\n0\r\n\r\n");
    EXPECT_EQ(Statuses(out), std::vector<int>{status}) << fields << out;
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2)) << fields;
  }
  EXPECT_EQ(Count("events") + Count("rejected"), 0);
}

TEST_F(HostileTest, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  Conn c(sink_.port());
  c.Send("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + Post("[" + Event("pipe-1") + "]") +
         "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + Post(Event("pipe-2", 2)) +
         "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  bool closed = false;
  const std::string out = c.ReadAll(std::chrono::seconds(5), &closed);
  EXPECT_EQ(Statuses(out), (std::vector<int>{200, 200, 404, 200, 200})) << out;
  EXPECT_TRUE(closed);
  EXPECT_EQ(Count("events"), 2);
}

TEST_F(HostileTest, HalfClosedCompleteRequestIsAnswered) {
  Start();
  Conn c(sink_.port());
  c.Send(Post("[" + Event("half-1") + "," + Event("half-2", 2) + "]"));
  c.HalfClose();
  bool closed = false;
  const std::string out = c.ReadAll(std::chrono::seconds(3), &closed);
  EXPECT_EQ(Statuses(out), std::vector<int>{200}) << out;
  EXPECT_NE(out.find("\"accepted\":2"), std::string::npos) << out;
  EXPECT_TRUE(closed);
  EXPECT_EQ(Count("events"), 2);
}

TEST_F(HostileTest, RequestHeadIsBounded) {
  Start();
  std::string many;
  for (int i = 0; i < 101; ++i) many += "X-F" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Statuses(Exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many + "\r\n")),
            std::vector<int>{431});
  EXPECT_EQ(Statuses(Exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " +
                              std::string(9000, 'b') + "\r\n\r\n")),
            std::vector<int>{431});
  std::string big;
  for (int i = 0; i < 6; ++i)
    big += "X-B" + std::to_string(i) + ": " + std::string(6000, 'c') + "\r\n";
  EXPECT_EQ(Statuses(Exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + "\r\n")),
            std::vector<int>{431});
  EXPECT_EQ(
      Statuses(Exchange("GET /" + std::string(9000, 'u') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")),
      std::vector<int>{414});
  // A head that never ends is refused once it passes the bound, not read forever.
  {
    Conn c(sink_.port());
    c.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    std::string filler;
    for (int i = 0; i < 2000; ++i) filler += "X-Slow: " + std::string(40, 's') + "\r\n";
    c.Send(filler);
    EXPECT_EQ(Statuses(c.ReadAll(std::chrono::seconds(3))), std::vector<int>{431});
  }
  // Within the bounds: served.
  std::string ok;
  for (int i = 0; i < 98; ++i) ok += "X-F" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Statuses(Exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                              ok + "\r\n")),
            std::vector<int>{200});
}

TEST_F(HostileTest, MalformedHeadsAreRefused) {
  Start({"--token", "tok-1"});
  const std::string body = "[" + Event("nul-1") + "]";
  const std::vector<std::pair<std::string, int>> cases = {
      // A NUL in the bearer value: not the token, and not a valid field.
      {Post(body, "Authorization: Bearer tok-1" + std::string(1, '\0') + "zz\r\n"), 400},
      {Post(body, "Authorization: Bearer tok-1\x01\r\n"), 400},
      {"POST /events HTTP/1.1\nHost: sink\nContent-Length: 2\n\n[]", 400},  // bare LF
      {"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n X-Fold: a\r\nContent-Length: 2\r\n\r\n[]",
       400},
      {"GET /healthz HTTP/1.1\r\n\r\n", 400},                        // no Host
      {"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},  // two Hosts
      {"GET  /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 400},            // two spaces
      {"GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"GET /healthz HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n", 400},
      {"BREW /events HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 501},
      {"GET /he\x7fz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
  };
  for (const auto& [bytes, status] : cases) {
    EXPECT_EQ(Statuses(Exchange(bytes)), std::vector<int>{status}) << bytes;
  }
  EXPECT_EQ(Count("events"), 0);
  // The same request with a clean header is accepted.
  auto r = cli_->Post("/events", {{"Authorization", "Bearer tok-1"}}, body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(HostileTest, OddMethodsOnEventsAre405) {
  Start();
  for (const char* m : {"TRACE", "CONNECT", "PUT", "DELETE", "PATCH", "OPTIONS", "GET"}) {
    const std::string target = std::string(m) == "CONNECT" ? "/events" : "/events";
    const std::string out = Exchange(std::string(m) + " " + target +
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n");
    EXPECT_EQ(Statuses(out), std::vector<int>{405}) << m << ": " << out;
    EXPECT_NE(out.find("Allow: POST"), std::string::npos) << m;
  }
}

// --- Bodies -------------------------------------------------------------------

TEST_F(HostileTest, ContentEncodingsAreMatchedCaseInsensitivelyOrRefused415) {
  Start();
  const std::string body = "[" + Event("ce-1") + "]";
  for (const char* coding : {"x-unknown", "br", "compress", "gzip;q=1", "gzip, gzip", "zstd"}) {
    auto r = cli_->Post("/events", {{"Content-Encoding", coding}}, body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415) << coding << ": " << r->body;
  }
  EXPECT_EQ(Count("events") + Count("rejected"), 0);
  int id = 2;
  for (const char* coding : {"GZIP", "x-gzip", "Gzip, identity"}) {
    auto r =
        cli_->Post("/events", {{"Content-Encoding", coding}},
                   Gzip("[" + Event("ce-" + std::to_string(id), id) + "]"), "application/json");
    ++id;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << coding << ": " << r->body;
  }
  auto r = cli_->Post("/events", {{"Content-Encoding", "Identity"}}, body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Count("events"), 4);
}

TEST_F(HostileTest, UndecodableBodiesAreKeptAsReceived) {
  Start();
  std::mt19937 rng(7);
  std::string noise(300, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  noise[0] = '\x1f';  // a gzip magic number, then garbage
  noise[1] = '\x8b';
  const std::string truncated = Gzip("[" + Event("trunc") + "]").substr(0, 40);
  for (const std::string& bytes : {noise, truncated}) {
    auto r = cli_->Post("/events", {{"Content-Encoding", "gzip"}}, bytes, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
  }
  ASSERT_TRUE(sink_.Flush());
  const auto rows = test::QueryRows(db_, "SELECT hex(body), reason FROM rejected ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  auto hex = [](const std::string& s) {
    std::string out;
    char buf[3];
    for (unsigned char c : s) {
      std::snprintf(buf, sizeof buf, "%02X", c);
      out += buf;
    }
    return out;
  };
  EXPECT_EQ(rows[0].substr(0, rows[0].find('\t')), hex(noise));
  EXPECT_EQ(rows[1].substr(0, rows[1].find('\t')), hex(truncated));
  EXPECT_NE(rows[0].find("as received"), std::string::npos) << rows[0];
}

TEST_F(HostileTest, NonEventItemsCostBoundedRowsAndAnswer) {
  Start({"--streampixel-origins", "https://spoofed.example"});
  // 60,000 non-events (small on the wire once compressed) and one event.
  std::string body = "[" + Event("amp-1");
  for (int i = 0; i < 60000; ++i) body += ",[]";
  body += "]";
  auto r = cli_->Post("/events", {{"Content-Encoding", "gzip"}}, Gzip(body), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  EXPECT_NE(r->body.find("\"accepted\":1,"), std::string::npos);
  EXPECT_NE(r->body.find("\"rejected\":60000,"), std::string::npos) << r->body.substr(0, 200);
  EXPECT_NE(r->body.find("\"errors_omitted\":59900"), std::string::npos);
  EXPECT_LT(r->body.size(), 20000u);
  EXPECT_EQ(Count("rejected"), 101);  // 100 one by one, one summary
  EXPECT_NE(One("SELECT reason FROM rejected ORDER BY id DESC LIMIT 1").find("59900 more items"),
            std::string::npos);
  // The platform endpoints are bounded alike (probe: a spoofed Origin on
  // /events/streampixel made 200,000 rows from 600 bytes).
  std::string items = "[1";
  for (int i = 0; i < 5000; ++i) items += ",2";
  items += "]";
  for (const char* path : {"/events/streampixel", "/events/gamelift", "/events/zego"}) {
    const int64_t before = Count("rejected");
    httplib::Headers headers = {{"Content-Encoding", "gzip"}};
    if (std::string(path) == "/events/streampixel") {
      headers.emplace("Origin", "https://spoofed.example");  // an allowed page: no token
    }
    r = cli_->Post(path, headers, Gzip(items), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path << ": " << r->body.substr(0, 200);
    EXPECT_NE(r->body.find("\"rejected\":5001,"), std::string::npos) << path;
    EXPECT_LT(r->body.size(), 20000u) << path;
    EXPECT_EQ(Count("rejected") - before, 101) << path;
  }
  // Past the item limit, the whole request is refused and nothing stored.
  const int64_t kept = Count("rejected");
  std::string huge = "[0";
  for (int i = 0; i < 250000; ++i) huge += ",0";
  huge += "]";
  r = cli_->Post("/events", {{"Content-Encoding", "gzip"}}, Gzip(huge), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_EQ(Count("rejected"), kept);
}

TEST_F(HostileTest, ALargeBatchCommitsInStepsAndOthersKeepTheirLatency) {
  Start();
  std::string big = "[";
  for (int i = 0; i < 60000; ++i) {
    if (i) big += ',';
    big += Event("big-" + std::to_string(i), i);
  }
  big += "]";
  // cpp-httplib's client builds shared regex state lazily: once here,
  // before a second thread uses a client (TSan saw the race).
  ASSERT_EQ(cli_->Get("/healthz")->status, 200);
  std::atomic<bool> big_done{false};
  int big_status = 0;
  std::string big_body;
  std::thread t([&] {
    httplib::Client c("127.0.0.1", sink_.port());
    c.set_read_timeout(120, 0);
    auto r = c.Post("/events", big, "application/json");
    if (r) {
      big_status = r->status;
      big_body = r->body;
    }
    big_done = true;
  });
  // Once the big batch commits (its first events are visible), a small post
  // from another client must not wait for the rest of it.
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < give_up && !big_done && Count("events", "session_id LIKE 'big-%'") == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const bool mid_batch = !big_done;
  auto r = cli_->Post("/events", "[" + Event("small-1") + "]", "application/json");
  const bool small_first = !big_done;
  t.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(big_status, 200) << big_body;
  EXPECT_NE(big_body.find("\"accepted\":60000"), std::string::npos) << big_body;
  if (mid_batch) {
    EXPECT_TRUE(small_first) << "the small post waited for the whole batch";
  }
  EXPECT_EQ(Count("events"), 60001);
  const int64_t peak = PeakRssKib(sink_.pid());
  std::printf("[hostile] 60,000-event batch: sink peak RSS %lld KiB\n",
              static_cast<long long>(peak));
  EXPECT_LT(peak, kBigBatchRssKib);
}

// --- Reports --------------------------------------------------------------------

TEST_F(HostileTest, ConcurrencyBucketsAreBoundedByTheWindowOrTheData) {
  Start();
  // One play in 2001 and one now: an open-ended window spans 25 years.
  auto r = cli_->Post("/events",
                      R"([{"event":"play_started","id":"old","server":"s","utc_ms":978307200000},
                         {"event":"play_closed","id":"old","server":"s","utc_ms":978307260000},
                         {"event":"play_started","id":"new","server":"s","utc_ms":1764000000000},
                         {"event":"play_closed","id":"new","server":"s","utc_ms":1764000060000}])",
                      "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  ASSERT_TRUE(sink_.Flush());  // the sessions follow the events within --session-flush
  for (const char* q : {"/reports/concurrency", "/reports/concurrency?bucket=1m",
                        "/reports/concurrency?bucket=2ms&from=1764000000000&to=1764086400000",
                        "/reports/concurrency?bucket=1s&from=0&to=253402300799999"}) {
    const auto t0 = Clock::now();
    auto a = cli_->Get(q);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 400) << q << ": " << a->body;
    EXPECT_NE(a->body.find("100000"), std::string::npos) << a->body;
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5)) << q;
  }
  auto ok = cli_->Get("/reports/concurrency?bucket=1h&from=1764000000000&to=1764086400000");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  // Each media has rows of its own: 12 media over a day of 2-s buckets are
  // 12 × 43,200 rows more than the total's, past the row limit.
  std::string plays = "[";
  for (int m = 0; m < 12; ++m) {
    const std::string id = "m" + std::to_string(m);
    plays += std::string(m ? "," : "") + R"({"event":"play_started","server":"s","id":")" + id +
             R"(","media":"ch)" + std::to_string(m) + R"(","utc_ms":1764000000000},)" +
             R"({"event":"play_closed","server":"s","id":")" + id + R"(","media":"ch)" +
             std::to_string(m) + R"(","utc_ms":1764086400000})";
  }
  plays += "]";
  ASSERT_EQ(cli_->Post("/events", plays, "application/json")->status, 200);
  ASSERT_TRUE(sink_.Flush());
  const std::string day_2s = "/reports/concurrency?bucket=2s&from=1764000000000&to=1764086400000";
  auto rows = cli_->Get(day_2s.c_str());
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->status, 400) << rows->body.substr(0, 200);
  EXPECT_NE(rows->body.find("500000"), std::string::npos) << rows->body;
  auto one = cli_->Get((day_2s + "&media=ch3").c_str());
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200) << one->body.substr(0, 200);
  auto day = cli_->Get("/reports/concurrency?bucket=1d");  // 25 years of days: allowed
  ASSERT_TRUE(day);
  EXPECT_EQ(day->status, 200) << day->body.substr(0, 200);
  // The CLI refuses the same, rather than running out of memory.
  test::SinkProcess cli;
  EXPECT_NE(cli.RunToExit({"report", "concurrency", "--db", db_, "--bucket", "1ms", "--from",
                           "1764000000000", "--to", "1764086400000"}),
            0);
  EXPECT_NE(cli.log().find("100000"), std::string::npos) << cli.log();
}

TEST_F(HostileTest, TimesAtTheEdgeOfInt64AreAbsentAndReportsAgree) {
  Start();
  auto r = cli_->Post(
      "/events",
      R"([{"event":"play_started","id":"e0","server":"s","user_id":"u9","utc_ms":2,"event_id":1},
          {"event":"play_closed","id":"e0","server":"s","user_id":"u9","utc_ms":9223372036854775806,"event_id":2},
          {"event":"play_started","id":"e1","server":"s","user_id":"u9","utc_ms":"2300-01-01T00:00:00Z","event_id":1},
          {"event":"play_started","id":"e2","server":"s","user_id":"u9","utc_ms":1764000000000,"event_id":1},
          {"event":"play_closed","id":"e2","server":"s","user_id":"u9","utc_ms":1764000005000,"event_id":2,
           "opened_at":"2025-11-24T16:00:00+99:99"}])",
      "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_TRUE(sink_.Flush());
  EXPECT_EQ(One("SELECT count(*) FROM events WHERE utc_ms IS NOT NULL"), "2");
  EXPECT_EQ(One("SELECT opened_at FROM sessions WHERE id = 'e2'"), "NULL");
  for (const char* report : {"sessions-per-user", "stalls", "media", "concurrency", "sharing"}) {
    test::SinkProcess native, sql;
    const std::vector<std::string> args = {"report", report,          "--db",     db_,
                                           "--now",  "1764000010000", "--format", "csv"};
    ASSERT_EQ(native.RunToExit(args), 0) << native.log();
    std::vector<std::string> sql_args = args;
    sql_args.push_back("--sql");
    ASSERT_EQ(sql.RunToExit(sql_args), 0) << report << ": " << sql.log();
    EXPECT_EQ(native.log(), sql.log()) << report;
    EXPECT_EQ(native.log().find(",-"), std::string::npos) << report << ": " << native.log();
  }
  auto spu = cli_->Get("/reports/sessions-per-user?user=u9&now=1764000010000");
  ASSERT_TRUE(spu);
  EXPECT_EQ(spu->status, 200);
  EXPECT_EQ(spu->body.find("\"watch_ms\":-"), std::string::npos) << spu->body;
}

TEST_F(HostileTest, CsvCellsCannotBeFormulas) {
  Start();
  auto r = cli_->Post(
      "/events",
      R"J([{"event":"play_started","id":"f1","server":"s","media":"@SUM(A1:A9)","user_id":"+cmd","utc_ms":1764000000000},
          {"event":"play_started","id":"f2","server":"s","media":"-2+3","user_id":"=HYPERLINK(\"x\")","utc_ms":1764000000000}])J",
      "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  ASSERT_TRUE(sink_.Flush());
  auto csv = cli_->Get("/reports/media?format=csv&now=1764000010000");
  ASSERT_TRUE(csv);
  EXPECT_NE(csv->body.find("\"'@SUM(A1:A9)\""), std::string::npos) << csv->body;
  EXPECT_NE(csv->body.find("\"'-2+3\""), std::string::npos) << csv->body;
  auto users = cli_->Get("/reports/sessions-per-user?format=csv&now=1764000010000");
  ASSERT_TRUE(users);
  EXPECT_NE(users->body.find("\"'=HYPERLINK(\"\"x\"\")\""), std::string::npos) << users->body;
  EXPECT_NE(users->body.find("\"'+cmd\""), std::string::npos) << users->body;
  // Every line starts with a quote or a plain cell, never a formula character.
  for (size_t p = 0; p < users->body.size();) {
    const char c = users->body[p];
    EXPECT_EQ(std::string("=+-@").find(c), std::string::npos) << users->body;
    p = users->body.find('\n', p);
    if (p == std::string::npos) break;
    ++p;
  }
}

TEST_F(HostileTest, ReportLimitsAreTheSameOnTheCommandLineAndOverHttp) {
  Start();
  for (const char* limit : {"-1", "99999999999999999999", "1000000001", "x"}) {
    test::SinkProcess cli;
    EXPECT_NE(cli.RunToExit({"report", "sharing", "--db", db_, "--limit", limit}), 0) << limit;
    auto r = cli_->Get(std::string("/reports/sharing?limit=") + limit);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << limit << ": " << r->body;
  }
  auto r = cli_->Get("/reports/sharing?limit=3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// --- Safe defaults ------------------------------------------------------------

TEST_F(HostileTest, MetricsNeedAReadingTokenAnd401sAreCountedAndLogged) {
  Start({"--token", "ingest-tok", "--read-token", "read-tok"});
  EXPECT_EQ(cli_->Get("/metrics")->status, 401);
  EXPECT_EQ(cli_->Get("/metrics?token=wrong-tok")->status, 401);
  auto m = cli_->Get("/metrics", {{"Authorization", "bearer read-tok"}});
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("sessionsink_http_unauthorized_total 2"), std::string::npos) << m->body;
  EXPECT_EQ(cli_->Get("/metrics?token=ingest-tok")->status, 200);
  const std::string log = sink_.log();
  EXPECT_NE(log.find("refused with 401"), std::string::npos) << log;
  EXPECT_NE(log.find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(log.find("wrong-tok"), std::string::npos);
  EXPECT_EQ(log.find("read-tok"), std::string::npos);
}

TEST_F(HostileTest, MetricsPublicServesThemWithoutAToken) {
  Start({"--token", "ingest-tok", "--metrics-public", "--streampixel-origins",
         "https://play.example"});
  EXPECT_EQ(cli_->Get("/reports/live")->status, 401);
  // A browser post from a page not allowed is a 401 like the others.
  auto sp =
      cli_->Post("/events/streampixel", {{"Origin", "https://elsewhere.example"}},
                 R"({"key":"k","seq":1,"at":1764000000000,"message":{"type":"x"}})", "text/plain");
  ASSERT_TRUE(sp);
  EXPECT_EQ(sp->status, 401);
  auto m = cli_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("sessionsink_http_unauthorized_total 2"), std::string::npos) << m->body;
}

TEST_F(HostileTest, ListeningBeyondLoopbackNeedsATokenOrAnExplicitChoice) {
  test::SinkProcess open;
  EXPECT_EQ(open.RunToExit({"serve", "--db", db_, "--listen", "0.0.0.0:0"}), 1);
  EXPECT_NE(open.log().find("--allow-unauthenticated"), std::string::npos) << open.log();
  test::SinkProcess v6;
  EXPECT_EQ(v6.RunToExit({"serve", "--db", db_, "--listen", "[::]:0"}), 1);
  Start();  // loopback without a token is fine (and TearDown checks the file)
}

}  // namespace
}  // namespace sink

namespace sink {
namespace {

// --- HTTPS ------------------------------------------------------------------------

TEST_F(HostileTest, TlsCarriesTheTokenAndPlainHttpGetsNothing) {
  const std::string cert = tmp_.File("cert.pem"), key = tmp_.File("key.pem");
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-subj /CN=127.0.0.1 -days 2 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  Start({"--token", "tls-tok", "--tls-cert", cert, "--tls-key", key});
  EXPECT_NE(sink_.log().find("listening on https://"), std::string::npos) << sink_.log();
  httplib::SSLClient c("127.0.0.1", sink_.port());
  c.enable_server_certificate_verification(false);
  c.set_read_timeout(10, 0);
  auto r = c.Post("/events", {{"Authorization", "Bearer tls-tok"}}, "[" + Event("tls-1") + "]",
                  "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error()) << "\n" << sink_.log();
  EXPECT_EQ(r->status, 200) << r->body;
  // Keep-alive and the framing rules work the same over TLS.
  auto r2 = c.Post("/events", {{"Authorization", "Bearer tls-tok"}}, "[" + Event("tls-2", 2) + "]",
                   "application/json");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  auto no = c.Post("/events", "[" + Event("tls-3", 3) + "]", "application/json");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->status, 401);
  EXPECT_EQ(Count("events"), 2);
  // Plain HTTP on the TLS port: no HTTP answer, and the sink goes on.
  Conn plain(sink_.port());
  plain.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_TRUE(Statuses(plain.ReadAll(std::chrono::seconds(2))).empty());
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  // A key that does not match is an error at start.
  test::SinkProcess bad;
  const std::string other = tmp_.File("other.pem");
  ASSERT_EQ(std::system(("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out " +
                         other + " >/dev/null 2>&1")
                            .c_str()),
            0);
  EXPECT_EQ(bad.RunToExit({"serve", "--db", tmp_.File("b.db"), "--listen", "127.0.0.1:0",
                           "--tls-cert", cert, "--tls-key", other}),
            1);
  EXPECT_NE(bad.log().find("--tls-key"), std::string::npos) << bad.log();
  EXPECT_EQ(sink_.Stop(SIGTERM), 0);  // TearDown's plain client cannot speak TLS
  stopped_ = true;
  EXPECT_EQ(One("PRAGMA integrity_check"), "ok");
}

// --- Round two (../shared/reviews/probe-3.md) ---------------------------------

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// True when `s` is valid UTF-8 (strict: no overlongs, surrogates or bytes past U+10FFFF).
bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return false;
    for (size_t k = 2; k < n; ++k) {
      const unsigned char ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    i += n;
  }
  return true;
}

// N8: the timeline answer is strict JSON (valid UTF-8, parsed by simdjson's
// DOM parser, which validates both) and holds no internal BLOB column.
TEST_F(HostileTest, SessionTimelineAnswersAreValidJsonWithoutInternalColumns) {
  Start();
  std::string many = "[";
  for (int i = 0; i < 200; ++i) many += (i ? "," : "") + Event("o" + std::to_string(i), i + 1);
  ASSERT_EQ(cli_->Post("/events", many + "]", "application/json")->status, 200);
  ASSERT_EQ(cli_->Post("/events", "[" + Event("x2", 500) + "]", "application/json")->status, 200);
  ASSERT_TRUE(sink_.Flush());
  ASSERT_EQ(One("SELECT length(event_seqs) > 0 FROM sessions WHERE id = 'x2'"), "1");
  auto r = cli_->Get("/api/session?id=x2");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(ValidUtf8(r->body)) << r->body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r->body).get(doc), simdjson::SUCCESS) << r->body;
  EXPECT_EQ(r->body.find("event_seqs"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("merge_state"), std::string::npos) << r->body;
  std::string_view id;
  ASSERT_EQ(doc["session"]["id"].get(id), simdjson::SUCCESS) << r->body;
  EXPECT_EQ(id, "x2");
}

// N12 and #14: the reports the dashboard reads are never cached; every
// method but POST on an events endpoint is 405 (a preflight included).
TEST_F(HostileTest, ReportsAreNotCachedAndEveryEventsEndpointAnswers405) {
  Start();
  for (const char* path : {"/reports", "/reports/media", "/reports/startup", "/reports/endings",
                           "/reports/durations"}) {
    auto r = cli_->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store") << path;
  }
  for (const char* path : {"/events/streampixel", "/events/gamelift", "/events/zego"}) {
    for (const char* m : {"OPTIONS", "GET", "PUT"}) {
      const std::string out = Exchange(
          std::string(m) + " " + path +
          " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      EXPECT_EQ(Statuses(out), std::vector<int>{405}) << m << " " << path << ": " << out;
      EXPECT_NE(out.find("Allow: POST"), std::string::npos) << m << " " << path;
    }
  }
}

// N9: a wrong token on the nginx-rtmp endpoint is counted and logged like
// any 401, and the log does not show it.
TEST_F(HostileTest, NginxRtmpWrongTokensAreCountedAndLogged) {
  Start({"--token", "nginx-tok"});
  auto r = cli_->Post("/events/nginx-rtmp/edge1/token/GUESS-1",
                      "app=live&addr=1.2.3.4&clientid=7&call=publish&name=x",
                      "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  auto q = cli_->Post("/events/nginx-rtmp/edge1?token=GUESS-2",
                      "app=live&addr=1.2.3.4&clientid=7&call=publish&name=x",
                      "application/x-www-form-urlencoded");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 401);
  auto m = cli_->Get("/metrics", {{"Authorization", "Bearer nginx-tok"}});
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("sessionsink_http_unauthorized_total 2"), std::string::npos) << m->body;
  const std::string log = sink_.log();
  EXPECT_NE(log.find("refused with 401"), std::string::npos) << log;
  EXPECT_NE(log.find("/events/nginx-rtmp/edge1"), std::string::npos) << log;
  EXPECT_EQ(log.find("GUESS"), std::string::npos) << log;
}

// N11: /flush takes no body: a huge declared one is refused at once.
TEST_F(HostileTest, FlushWithAHugeBodyIsRefusedAtOnce) {
  Start();
  const auto t0 = Clock::now();
  const std::string out =
      Exchange("POST /flush HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n",
               std::chrono::milliseconds(3000));
  EXPECT_EQ(Statuses(out), std::vector<int>{413}) << out;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  auto ok = cli_->Post("/flush", "", "text/plain");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

// N2: what a dead letter costs on disk is bounded by the request's size on
// the wire: a small gzip body that decodes to 1 MiB of garbage is kept as
// received, not decoded.
TEST_F(HostileTest, ADeadLetterIsNeverLargerThanTheRequestOnTheWire) {
  Start();
  const std::string bomb = Gzip("[" + std::string(1 << 20, 'x'));
  ASSERT_LT(bomb.size(), 4096u);
  uint64_t wire = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = cli_->Post("/events", {{"Content-Encoding", "gzip"}}, bomb, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    wire += bomb.size();
  }
  EXPECT_EQ(Count("rejected"), 20);
  EXPECT_LE(std::stoull(One("SELECT sum(length(body)) FROM rejected")), wire);
  EXPECT_EQ(One("SELECT count(*) FROM rejected WHERE hex(body) = '" +
                [&] {
                  std::string h;
                  char b[3];
                  for (unsigned char c : bomb) {
                    std::snprintf(b, sizeof b, "%02X", c);
                    h += b;
                  }
                  return h;
                }() +
                "' AND reason LIKE '%as received%'"),
            "20");
}

// N1: a session belongs to one platform. With --streampixel-origins, a
// token-less post from an allowed Origin reaches Streampixel sessions only:
// a Flussonic session with the same id is not touched.
TEST_F(HostileTest, ABrowserOriginCannotTouchAnotherPlatformsSession) {
  Start({"--token", "S", "--streampixel-origins", "https://ok.example"});
  const int64_t now = NowMs();
  const std::string play =
      R"([{"event":"play_opened","id":"victim1","server":"edge1","utc_ms":)" +
      std::to_string(now - 2000) +
      R"(,"event_id":1},{"event":"play_started","id":"victim1","server":"edge1","utc_ms":)" +
      std::to_string(now - 1000) + R"(,"event_id":2}])";
  auto p = cli_->Post("/events", {{"Authorization", "Bearer S"}}, play, "application/json");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->status, 200) << p->body;
  auto forged = cli_->Post("/events/streampixel", {{"Origin", "https://ok.example"}},
                           R"({"key":"victim1","at":)" + std::to_string(now) +
                               R"(,"message":{"type":"stream-state","value":"disconnected"}})",
                           "text/plain");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 200) << forged->body;  // a Streampixel session of its own
  ASSERT_TRUE(sink_.Flush("S"));
  EXPECT_EQ(One("SELECT state || '|' || platform || '|' || event_count FROM sessions "
                "WHERE id = 'victim1'"),
            "running|flussonic|2");
  EXPECT_EQ(One("SELECT state || '|' || platform FROM sessions WHERE id = 'streampixel/victim1'"),
            "finished|streampixel");
  // The other way: a Flussonic event cannot name a platform's session.
  auto in = cli_->Post("/events", {{"Authorization", "Bearer S"}},
                       R"([{"event":"play_closed","id":"streampixel/victim1","server":"s"}])",
                       "application/json");
  ASSERT_TRUE(in);
  EXPECT_EQ(in->status, 200);
  EXPECT_NE(in->body.find("another platform"), std::string::npos) << in->body;
  EXPECT_EQ(Count("events", "session_id = 'streampixel/victim1'"), 1);
}

// N6: ZEGO ids cannot collide: a user named "stream", a room id with '/'.
TEST_F(HostileTest, ZegoSessionsWithLookalikePartsStayApart) {
  Start();
  const std::string t = std::to_string(NowMs());
  for (
      const std::string& body : {
          R"({"event":"stream_create","room_id":"r","stream_id":"s","user_id":"pub","create_time_ms":)" +
              t + R"(,"stream_sid":"sid1"})",
          R"({"event":"room_login","room_id":"r","user_id":"stream","session_id":"s","login_time":)" +
              t + "}",
          R"({"event":"player_state_changed","room_id":"r/play","stream_id":"x","user_id":"u","state":"PLAYING","timestamp":)" +
              t + "}",
          R"({"event":"player_state_changed","room_id":"r","stream_id":"play/x","user_id":"u","state":"PLAYING","timestamp":)" +
              t + "}",
      }) {
    auto r = cli_->Post("/events/zego", body, "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  ASSERT_TRUE(sink_.Flush());
  EXPECT_EQ(Count("sessions", "platform = 'zego'"), 4);
  EXPECT_EQ(Count("sessions", "platform = 'zego' AND event_count = 1"), 4);
  EXPECT_EQ(One("SELECT kind FROM sessions WHERE external_id = 'sid1'"), "publish");
}

// N3: the tokenless default refuses a browser's cross-site post and any
// Host name but loopback's (DNS rebinding); media servers and curl pass.
TEST_F(HostileTest, TheTokenlessSinkRefusesCrossSiteWritesAndForeignHosts) {
  Start();
  const std::string body = R"([{"event":"server_started","server":"edge1"}])";
  for (const std::string& headers :
       {std::string("Origin: http://127.0.0.1:1\r\n"), std::string("Origin: null\r\n"),
        std::string("Sec-Fetch-Site: cross-site\r\n"),
        std::string("Origin: http://attacker.example\r\nSec-Fetch-Site: cross-site\r\n")}) {
    const std::string out =
        Exchange("POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
                 "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\n\r\n" + body);
    EXPECT_EQ(Statuses(out), std::vector<int>{403}) << headers << out;
  }
  const std::string flush = Exchange(
      "POST /flush HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://attacker.example\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(Statuses(flush), std::vector<int>{403}) << flush;
  EXPECT_EQ(Count("events") + Count("rejected"), 0);
  // DNS rebinding: the page's own name in Host.
  for (const char* host : {"rebind.attacker.example", "rebind.attacker.example:8080", "sink"}) {
    const std::string out =
        Exchange("GET /api/sessions?limit=1 HTTP/1.1\r\nHost: " + std::string(host) +
                 "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(Statuses(out), std::vector<int>{421}) << host << out;
  }
  // What media servers, nginx and curl send passes; so does the page's own origin.
  const std::string port = std::to_string(sink_.port());
  for (const std::string& host : {"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port,
                                  std::string("edge.localhost"), std::string("127.0.0.1")}) {
    const std::string out = Exchange("GET /api/sessions?limit=1 HTTP/1.1\r\nHost: " + host +
                                     "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(Statuses(out), std::vector<int>{200}) << host << out;
  }
  auto same = cli_->Post("/events", {{"Origin", "http://127.0.0.1:" + port}},
                         "[" + Event("own-page") + "]", "text/plain");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 200);
  auto curl = cli_->Post("/events", "[" + Event("curl", 2) + "]", "application/json");
  ASSERT_TRUE(curl);
  EXPECT_EQ(curl->status, 200);
  EXPECT_EQ(Count("events"), 2);
  auto m = cli_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("sessionsink_http_browser_refused_total 8"), std::string::npos) << m->body;
}

// N5: a time no clock could have produced (beyond the sink's clock + 1 h)
// drives no restart and no session end; a genuine restart always applies.
TEST_F(HostileTest, FarFutureTimesDriveNoRestartAndAreFlagged) {
  Start();
  auto post = [&](const std::string& body) {
    auto r = cli_->Post("/events", body, "application/json");
    EXPECT_TRUE(r);
    EXPECT_EQ(r ? r->status : 0, 200) << (r ? r->body : "");
    return r ? r->body : std::string();
  };
  const int64_t now = NowMs();
  const std::string skewed =
      post(R"([{"event":"server_started","server":"c","utc_ms":4102444799000}])");
  EXPECT_NE(skewed.find("\"future_times\":1"), std::string::npos) << skewed;
  auto play = [&](const std::string& id, int64_t t, int first_id) {
    post(R"([{"event":"play_opened","id":")" + id + R"(","server":"c","utc_ms":)" +
         std::to_string(t) + R"(,"event_id":)" + std::to_string(first_id) +
         R"(},{"event":"play_started","id":")" + id + R"(","server":"c","utc_ms":)" +
         std::to_string(t + 100) + R"(,"event_id":)" + std::to_string(first_id + 1) + "}]");
  };
  play("ck6", now + 1000, 1);
  // ck5: running, with one event dated 2099.
  play("ck5", now + 1000, 10);
  post(
      R"([{"event":"play_updated","id":"ck5","server":"c","utc_ms":4102444798000,"event_id":12}])");
  ASSERT_TRUE(sink_.Flush());
  EXPECT_EQ(One("SELECT state FROM sessions WHERE id = 'ck6'"), "running");
  EXPECT_EQ(One("SELECT last_event_at < 4000000000000 FROM sessions WHERE id = 'ck5'"), "1");
  // A genuine restart applies: both plays were running before it.
  post(R"([{"event":"server_started","server":"c","utc_ms":)" + std::to_string(now + 5000) + "}]");
  ASSERT_TRUE(sink_.Flush());
  for (const char* id : {"ck5", "ck6"}) {
    EXPECT_EQ(One(std::string("SELECT state || '|' || close_reason || '|' || (closed_at < ") +
                  std::to_string(now + 10000) + ") FROM sessions WHERE id = '" + id + "'"),
              "finished|server_restart|1")
        << id;
  }
  // A later play of c runs: no restart from 2099 is in force.
  play("ck7", now + 6000, 20);
  ASSERT_TRUE(sink_.Flush());
  EXPECT_EQ(One("SELECT state FROM sessions WHERE id = 'ck7'"), "running");
  // The bodies are kept as received, and the events are counted.
  EXPECT_EQ(Count("events", "body LIKE '%4102444799000%'"), 1);
  auto m = cli_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("sessionsink_events_future_times_total 2"), std::string::npos) << m->body;
  EXPECT_TRUE(sink_.WaitForLog("more than 1 h ahead")) << sink_.log();
}

// #6 under concurrency: every request in flight shares --request-memory.
// Concurrent big batches past it get 503 + Retry-After at once (never a
// timeout), small requests still get through, and the peak stays bounded.
TEST_F(HostileTest, ConcurrentBigBatchesShareOneMemoryBudget) {
  Start({"--request-memory", "64MiB"});
  auto batch = [](int k, int n) {
    std::string b = "[";
    for (int i = 0; i < n; ++i) {
      if (i) b += ',';
      b += R"({"event":"play_opened","id":"c)" + std::to_string(k) + "_" + std::to_string(i) +
           R"(","server":"s","event_id":)" + std::to_string(i) + "}";
    }
    return b + "]";
  };
  std::vector<std::string> bodies;
  for (int k = 0; k < 4; ++k) bodies.push_back(batch(k, 40000));  // ~3 MB each
  std::vector<int> codes(bodies.size());
  std::vector<std::string> retry(bodies.size());
  std::vector<double> secs(bodies.size());
  // cpp-httplib builds the regex that reads a response line on first use,
  // inside its uninstrumented library: read one answer here, before the
  // threads, so that ThreadSanitizer sees the construction come first.
  ASSERT_TRUE(cli_->Get("/healthz"));
  std::vector<std::thread> threads;
  for (size_t k = 0; k < bodies.size(); ++k) {
    threads.emplace_back([&, k] {
      httplib::Client c("127.0.0.1", sink_.port());
      c.set_read_timeout(60, 0);
      const auto t0 = Clock::now();
      auto r = c.Post("/events", bodies[k], "application/json");
      secs[k] = std::chrono::duration<double>(Clock::now() - t0).count();
      codes[k] = r ? r->status : -1;
      if (r) retry[k] = r->get_header_value("Retry-After");
    });
  }
  // Meanwhile a small post gets through.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto small = cli_->Post("/events", "[" + Event("small-1") + "]", "application/json");
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200) << small->body;
  int ok = 0, refused = 0;
  for (size_t k = 0; k < codes.size(); ++k) {
    if (codes[k] == 200) ++ok;
    if (codes[k] == 503) {
      ++refused;
      EXPECT_EQ(retry[k], "1");
      EXPECT_LT(secs[k], 5.0) << "a refusal must come at once";
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(refused, 1) << "4 concurrent 3 MB batches fit in 64 MiB?";
  EXPECT_EQ(ok + refused, 4);
  auto m = cli_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("sessionsink_http_memory_refused_total " + std::to_string(refused)),
            std::string::npos)
      << m->body;
  EXPECT_LT(PeakRssKib(sink_.pid()), kBigBatchRssKib);
}

}  // namespace
}  // namespace sink
