// Hostile and excessive clients against the real binary: connections that
// trickle bytes (slowloris), too many connections, and more events than the
// writer can commit. Healthy clients must still be served, refused ones
// must get a 503 they can act on, and nothing unacknowledged is stored.
//
// Attackers connect from other loopback addresses (127.0.0.2 …; Linux
// routes all of 127/8 to lo), healthy clients from 127.0.0.1.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// A TCP connection to 127.0.0.1:port from `source` (an address of lo).
int Connect(const std::string& source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What the server sent until it closed the connection; "" and closed=false
// when it is still open after `timeout_ms`.
std::string ReadUntilClosed(int fd, int timeout_ms, bool* closed) {
  std::string got;
  const auto t0 = Clock::now();
  *closed = false;
  while (MsSince(t0) < timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      break;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// Connections that send the start of a request and then one header byte
// every `every_ms`, like a slowloris client.
class Trickler {
 public:
  Trickler(const std::vector<std::string>& sources, int port, int every_ms) {
    for (const std::string& s : sources) {
      const int fd = Connect(s, port);
      EXPECT_GE(fd, 0) << "connect from " << s;
      const std::string start = "POST /events HTTP/1.1\r\nHost: sink\r\nX-Slow: ";
      ::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
      fds_.push_back(fd);
    }
    thread_ = std::thread([this, every_ms] {
      while (!stop_) {
        for (int fd : fds_) ::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
      }
    });
  }
  ~Trickler() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  // How the server ended each connection, waiting until `deadline` (at
  // least half a second each): `refused` answered with a 503 that carries
  // Retry-After and `refusal`, `cut` closed without an answer, `open` not
  // ended yet.
  struct Ends {
    int refused = 0, cut = 0, open = 0;
  };
  Ends WaitForEnds(Clock::time_point deadline, const std::string& refusal) const {
    Ends e;
    for (int fd : fds_) {
      bool closed = false;
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      const std::string got = ReadUntilClosed(fd, std::max(500, left), &closed);
      if (!closed) {
        ++e.open;
      } else if (got.rfind("HTTP/1.1 503", 0) == 0) {
        EXPECT_NE(got.find("Retry-After: 1"), std::string::npos) << got;
        EXPECT_NE(got.find(refusal), std::string::npos) << got;
        ++e.refused;
      } else {
        EXPECT_EQ(got, "");
        ++e.cut;
      }
    }
    return e;
  }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string Batch(int batch, int n) {
  std::string body = "[";
  for (int i = 0; i < n; ++i) {
    if (i) body += ',';
    body += R"({"event":"play_updated","id":"c)" + std::to_string(batch % 97) + "-" +
            std::to_string(i % 10) + R"(","event_id":)" + std::to_string(batch * 10000 + i) +
            R"(,"server":"edge1","media":"ch1","utc_ms":)" +
            std::to_string(1700000000000 + batch * 1000 + i) + "}";
  }
  return body + "]";
}

int64_t Metric(httplib::Client& cli, const std::string& name) {
  auto r = cli.Get("/metrics");
  if (!r) return -1;
  const std::string needle = "\n" + name + " ";
  const size_t at = r->body.find(needle);
  return at == std::string::npos ? -1 : std::stoll(r->body.substr(at + needle.size()));
}

using test::PeakRssKib;

// The sink's memory bound under overload; the sanitizers' shadow memory
// (and ASan's 256-MiB quarantine) come on top in sanitizer builds.
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kRssBoundKib = 700 * 1024;
#elif defined(__SANITIZE_THREAD__)
constexpr int64_t kRssBoundKib = 1500 * 1024;
#else
constexpr int64_t kRssBoundKib = 200 * 1024;
#endif

class ConnectionTest : public ::testing::Test {
 protected:
  void StartSink(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--db", db_};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(sink_.Start(args)) << sink_.log();
  }

  test::TempDir tmp_;
  std::string db_ = tmp_.File("sessions.db");
  test::SinkProcess sink_;
};

// Forty slowloris connections from one address: that address gets at most
// --max-connections-per-client threads, the rest are refused at once with
// a 503, the ones served are cut at --client-timeout, and a healthy client
// is served promptly all along.
TEST_F(ConnectionTest, SlowlorisFromOneAddressCannotStarveOthers) {
  StartSink({"--http-threads", "8", "--max-connections-per-client", "4", "--client-timeout", "2s"});
  const auto t0 = Clock::now();
  Trickler slow(std::vector<std::string>(40, "127.0.0.2"), sink_.port(), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  httplib::Client cli("127.0.0.1", sink_.port());
  int64_t worst_ms = 0;
  for (int b = 0; b < 20; ++b) {
    const auto t = Clock::now();
    auto r = cli.Post("/events", Batch(b, 20), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    worst_ms = std::max(worst_ms, MsSince(t));
  }
  RecordProperty("healthy_worst_ms", static_cast<int>(worst_ms));
  EXPECT_LT(worst_ms, 1000) << "the healthy client waited for the slow ones";

  const Trickler::Ends ends =
      slow.WaitForEnds(t0 + std::chrono::seconds(5), "too many connections from this address");
  EXPECT_EQ(ends.open, 0) << "slow connections outlived --client-timeout";
  EXPECT_EQ(ends.refused, 36);
  EXPECT_EQ(ends.cut, 4);
  EXPECT_EQ(Metric(cli, "sessionsink_http_connections_refused_total"), 36);
  EXPECT_EQ(Metric(cli, "sessionsink_http_connections_timed_out_total"), 4);
  EXPECT_EQ(Metric(cli, "sessionsink_http_connections_unguarded_total"), 0);
  EXPECT_EQ(test::QueryRows(db_, "SELECT count(*) FROM events")[0], "400");
}

// Slow clients from many addresses (each under the per-address limit) take
// every thread and fill the wait queue: connections past --max-connections
// are refused at once, the slow ones are cut at --client-timeout, and a
// healthy client that resends on 503 (as media servers do) gets through.
TEST_F(ConnectionTest, SlowClientsFromManyAddressesAreCutAndTheQueueIsBounded) {
  StartSink({"--http-threads", "4", "--max-connections", "12", "--client-timeout", "1500ms"});
  std::vector<std::string> sources;
  for (int i = 0; i < 20; ++i) sources.push_back("127.0.1." + std::to_string(10 + i));
  const auto t0 = Clock::now();
  Trickler slow(sources, sink_.port(), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  httplib::Client cli("127.0.0.1", sink_.port());
  int refusals = 0;
  int64_t served_after_ms = -1;
  while (MsSince(t0) < 12000) {
    auto r = cli.Post("/events", Batch(0, 20), "application/json");
    if (r && r->status == 200) {
      served_after_ms = MsSince(t0);
      break;
    }
    if (r) {
      EXPECT_EQ(r->status, 503) << r->body;
      EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    }
    ++refusals;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  RecordProperty("healthy_served_after_ms", static_cast<int>(served_after_ms));
  RecordProperty("healthy_refusals", refusals);
  // 4 served + 8 waiting = 12; each group of 4 is cut 1.5 s after it is served.
  ASSERT_GE(served_after_ms, 0) << "the healthy client never got through";
  EXPECT_LT(served_after_ms, 8000);

  const Trickler::Ends ends =
      slow.WaitForEnds(t0 + std::chrono::seconds(12), "too many connections");
  EXPECT_EQ(ends.open, 0);
  EXPECT_EQ(ends.refused, 8) << "20 slow connections, 12 accepted";
  EXPECT_EQ(ends.cut, 12);
  EXPECT_GE(Metric(cli, "sessionsink_http_connections_refused_queue_full_total"), 8);
  EXPECT_EQ(Metric(cli, "sessionsink_http_connections_timed_out_total"), 12);
}

// More events than the writer can commit: the queue stays bounded, the
// excess is answered 503 with Retry-After (and not stored), memory stays
// bounded, and the sink takes events again as soon as the load eases.
TEST_F(ConnectionTest, OverloadIs503WithRetryAfterAndRecoversWithoutRestart) {
  StartSink({"--max-pending-events", "2000"});
  std::mutex mu;
  std::set<int> acked, refused;
  std::atomic<int> next{0};
  std::atomic<bool> stop{false};
  std::atomic<int> bad_retry_after{0};
  {
    // cpp-httplib's client builds shared state lazily on first use; let one
    // thread do that before twelve use it at once.
    httplib::Client warm("127.0.0.1", sink_.port());
    ASSERT_TRUE(warm.Post("/events", "[]", "application/json"));
  }
  std::vector<std::thread> clients;
  for (int c = 0; c < 12; ++c) {
    clients.emplace_back([&] {
      httplib::Client cli("127.0.0.1", sink_.port());
      cli.set_read_timeout(30, 0);
      while (!stop) {
        const int b = next++;
        auto r = cli.Post("/events", Batch(b, 500), "application/json");
        if (!r) continue;
        std::lock_guard<std::mutex> lock(mu);
        if (r->status == 200) {
          acked.insert(b);
        } else if (r->status == 503) {
          refused.insert(b);
          if (r->get_header_value("Retry-After") != "1") ++bad_retry_after;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  for (std::thread& t : clients) t.join();
  RecordProperty("batches_acked", static_cast<int>(acked.size()));
  RecordProperty("batches_refused", static_cast<int>(refused.size()));
  EXPECT_GT(refused.size(), 0u) << "the load never exceeded the queue";
  EXPECT_GT(acked.size(), 0u);
  EXPECT_EQ(bad_retry_after, 0);
  const int64_t rss = PeakRssKib(sink_.pid());
  RecordProperty("peak_rss_kib", static_cast<int>(rss));
  EXPECT_LT(rss, kRssBoundKib) << "peak RSS " << rss << " KiB";

  // The load is gone: the next batch is taken at once, no restart.
  httplib::Client cli("127.0.0.1", sink_.port());
  auto r = cli.Post("/events", Batch(next, 500), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  acked.insert(next);
  EXPECT_GT(Metric(cli, "sessionsink_queue_refusals_total"), 0);
  EXPECT_EQ(sink_.Stop(SIGTERM), 0);

  std::set<int> stored;
  for (const std::string& row :
       test::QueryRows(db_, "SELECT DISTINCT event_id / 10000 FROM events"))
    stored.insert(std::stoi(row));
  EXPECT_EQ(stored, acked) << "stored batches differ from the acknowledged ones";
  EXPECT_EQ(test::QueryRows(db_, "SELECT count(*) FROM events")[0],
            std::to_string(acked.size() * 500));
  EXPECT_TRUE(sink_.WaitForLog("refusing events with 503")) << sink_.log();
  EXPECT_TRUE(sink_.WaitForLog("writer queue is full")) << sink_.log();
}

}  // namespace
}  // namespace sink
