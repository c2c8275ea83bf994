// Running as a service: the --config file read again on SIGHUP (token
// rotation under load with no failed request, restart-only settings
// ignored, an invalid file keeping the running configuration), systemd's
// notifications on a NOTIFY_SOCKET the test listens on, and JSON logs that
// parse line by line. The real binary, real HTTP on 127.0.0.1.
#include <httplib.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using namespace std::chrono_literals;

class ServiceTest : public ::testing::Test {
 protected:
  void WriteConfig(const std::string& text) {
    // Written beside and renamed, as an editor or a package would: a reload
    // never reads half a file.
    const std::string tmp = conf_ + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
    ASSERT_EQ(std::rename(tmp.c_str(), conf_.c_str()), 0);
  }
  std::string Base() const { return "db = \"" + tmp_.File("s.db") + "\"\n"; }

  // Sends SIGHUP and waits for the reload's log line (the n-th reload).
  std::string Reload(int n) {
    kill(sink_.pid(), SIGHUP);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string log = sink_.log();
      size_t pos = 0;
      int seen = 0;
      std::string last;
      for (;;) {
        const size_t a = log.find("configuration reload", pos);
        if (a == std::string::npos) break;
        const size_t end = log.find('\n', a);
        last = log.substr(a, end - a);
        pos = a + 1;
        ++seen;
      }
      if (seen >= n) return last;
      std::this_thread::sleep_for(5ms);
    }
    return "(no reload line)";
  }

  int Post(const std::string& token, int i) {
    httplib::Client cli("127.0.0.1", sink_.port());
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    auto r = cli.Post("/events", h,
                      R"({"event":"play_opened","server":"s1","id":"p)" + std::to_string(i) +
                          R"(","utc_ms":1700000000000,"media":"m"})",
                      "application/json");
    return r ? r->status : -1;
  }

  std::string Metrics(const std::string& token) {
    httplib::Client cli("127.0.0.1", sink_.port());
    auto r = cli.Get("/metrics", {{"Authorization", "Bearer " + token}});
    return r ? r->body : "";
  }

  test::TempDir tmp_;
  std::string conf_ = tmp_.File("sessionsink.conf");
  test::SinkProcess sink_;
};

TEST_F(ServiceTest, TokenRotationUnderLoadFailsNoRequest) {
  WriteConfig(Base() + "token = \"old-secret\"\n");
  ASSERT_TRUE(sink_.Start({"--config", conf_})) << sink_.log();

  std::mutex mu;
  std::string token = "old-secret";
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, next{0};
  std::vector<int> failures;
  // One request first: cpp-httplib (not instrumented) builds its static
  // state on first use, which ThreadSanitizer would take for a race between
  // the clients below.
  ASSERT_EQ(Post("old-secret", -1), 200);
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      httplib::Client cli("127.0.0.1", sink_.port());
      cli.set_keep_alive(true);
      while (!stop) {
        std::string t;
        {
          std::lock_guard<std::mutex> lock(mu);
          t = token;
        }
        const int i = next++;
        auto r = cli.Post("/events", {{"Authorization", "Bearer " + t}},
                          R"({"event":"play_opened","server":"s1","id":"r)" + std::to_string(i) +
                              R"(","utc_ms":1700000000000,"media":"m"})",
                          "application/json");
        if (r && r->status == 200) {
          ++ok;
        } else {
          ++failed;
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back(r ? r->status : -1);
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  // 1. Add the new token next to the old one, reload.
  WriteConfig(Base() + "token = [\"old-secret\", \"new-secret\"]\n");
  EXPECT_NE(Reload(1).find("changed token"), std::string::npos) << sink_.log();
  std::this_thread::sleep_for(300ms);
  // 2. Move the clients over.
  {
    std::lock_guard<std::mutex> lock(mu);
    token = "new-secret";
  }
  std::this_thread::sleep_for(300ms);
  // 3. Remove the old token, reload.
  const int before_second = ok.load();
  WriteConfig(Base() + "token = \"new-secret\"\n");
  EXPECT_NE(Reload(2).find("changed token"), std::string::npos) << sink_.log();
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (std::thread& t : clients) t.join();

  std::printf("token rotation under load: %d requests answered 200, %d failed\n", ok.load(),
              failed.load());
  EXPECT_EQ(failed.load(), 0) << "statuses of the failed requests: "
                              << ::testing::PrintToString(failures);
  EXPECT_GT(ok.load(), before_second);
  EXPECT_GT(before_second, 20);
  EXPECT_EQ(Post("old-secret", 1), 401);  // the old token is gone
  EXPECT_EQ(Post("new-secret", 2), 200);
  // The log names what changed, never a token.
  EXPECT_EQ(sink_.log().find("old-secret"), std::string::npos);
  EXPECT_EQ(sink_.log().find("new-secret"), std::string::npos);
  EXPECT_EQ(sink_.Stop(SIGTERM), 0) << sink_.log();
}

TEST_F(ServiceTest, ReloadAppliesWhatItCanIgnoresRestartOnlyAndSurvivesABadFile) {
  WriteConfig(Base() + "token = \"t1\"\nsession-timeout = \"10m\"\n");
  ASSERT_TRUE(sink_.Start({"--config", conf_})) << sink_.log();
  const int port = sink_.port();

  // Nothing changed.
  EXPECT_NE(Reload(1).find("nothing changed"), std::string::npos) << sink_.log();
  // Reloadable and restart-only settings at once.
  WriteConfig(Base() + "token = \"t1\"\nsession-timeout = \"5m\"\nlog-level = \"debug\"\n" +
              "max-connections-per-client = 4\nhttp-threads = 8\nsynchronous = \"full\"\n");
  const std::string line = Reload(2);
  EXPECT_NE(line.find("changed session-timeout, max-connections-per-client, log-level"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("ignored until a restart: synchronous, http-threads"), std::string::npos)
      << line;
  EXPECT_EQ(sink_.port(), port);
  EXPECT_EQ(Post("t1", 1), 200);
  // A flag beats the file at a reload too: --listen (given by the test) is unchanged.
  WriteConfig(Base() + "token = \"t1\"\nsession-timeout = \"5m\"\nlog-level = \"debug\"\n" +
              "max-connections-per-client = 4\nhttp-threads = 8\nsynchronous = \"full\"\n" +
              "listen = \"127.0.0.1:1\"\n");
  const std::string flag = Reload(3);
  EXPECT_NE(flag.find("nothing changed; ignored until a restart: synchronous, http-threads"),
            std::string::npos)
      << flag;
  EXPECT_EQ(flag.find("listen"), std::string::npos) << flag;

  // An invalid file: refused, counted, the running configuration stays.
  WriteConfig(Base() + "token = \"t2\"\nsession-timeout = \"soon\"\n");
  const std::string bad = Reload(4);
  EXPECT_NE(bad.find("refused"), std::string::npos) << bad;
  EXPECT_NE(bad.find("duration"), std::string::npos) << bad;
  EXPECT_EQ(Post("t1", 2), 200);
  EXPECT_EQ(Post("t2", 3), 401);
  std::string m = Metrics("t1");
  EXPECT_NE(m.find("sessionsink_config_reload_failures_total 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("sessionsink_config_reloads_total 3\n"), std::string::npos) << m;
  EXPECT_NE(m.find("sessionsink_config_last_reload_successful 0\n"), std::string::npos) << m;

  // A file that reads but cannot be served (fewer connections than threads): refused too.
  WriteConfig(Base() + "max-connections = 2\n");
  EXPECT_NE(Reload(5).find("must be at least --http-threads"), std::string::npos) << sink_.log();
  EXPECT_EQ(Post("", 4), 401);

  // Fixed: applied; the restart-only ones are named again.
  WriteConfig(Base() + "token = \"t2\"\nhttp-threads = 8\n");
  const std::string fixed = Reload(6);
  EXPECT_NE(fixed.find("changed token"), std::string::npos) << fixed;
  EXPECT_NE(fixed.find("ignored until a restart: http-threads"), std::string::npos) << fixed;
  EXPECT_EQ(Post("t2", 5), 200);
  m = Metrics("t2");
  EXPECT_NE(m.find("sessionsink_config_last_reload_successful 1\n"), std::string::npos) << m;
  EXPECT_EQ(sink_.Stop(SIGTERM), 0) << sink_.log();
}

TEST_F(ServiceTest, SystemdNotificationsAroundStartReloadAndStop) {
  test::NotifySocket notify(tmp_.File("notify.sock"));
  ASSERT_TRUE(notify.bound());
  WriteConfig(Base());
  ASSERT_TRUE(sink_.Start({"--config", conf_},
                          {"NOTIFY_SOCKET=" + tmp_.File("notify.sock"), "WATCHDOG_USEC=400000"}))
      << sink_.log();
  const std::string ready = notify.WaitFor("READY=1");
  ASSERT_NE(ready, "") << sink_.log();
  EXPECT_NE(ready.find("STATUS=serving http://127.0.0.1:"), std::string::npos) << ready;
  // Ready means the port answers.
  EXPECT_EQ(Post("", 1), 200);
  EXPECT_NE(notify.WaitFor("WATCHDOG=1", 2s), "");  // every 200 ms

  kill(sink_.pid(), SIGHUP);
  const std::string reloading = notify.WaitFor("RELOADING=1");
  EXPECT_NE(reloading.find("MONOTONIC_USEC="), std::string::npos) << reloading;
  EXPECT_NE(notify.WaitFor("READY=1"), "");

  kill(sink_.pid(), SIGTERM);
  EXPECT_NE(notify.WaitFor("STOPPING=1"), "");
  EXPECT_EQ(sink_.Stop(SIGTERM), 0) << sink_.log();
}

TEST_F(ServiceTest, JsonLogsParseLineByLine) {
  WriteConfig(Base() + "token = \"t1\"\nlog-format = \"json\"\n");
  ASSERT_TRUE(sink_.Start({"--config", conf_})) << sink_.log();
  EXPECT_EQ(Post("t1", 1), 200);
  EXPECT_EQ(Post("wrong", 2), 401);  // logged with the client's address, the route, the status
  WriteConfig(Base() + "token = \"t1\"\nlog-format = \"json\"\nlog-level = \"debug\"\n");
  Reload(1);
  ASSERT_EQ(sink_.Stop(SIGTERM), 0) << sink_.log();

  std::istringstream lines(sink_.log());
  std::string line;
  int n = 0;
  bool saw_401 = false, saw_reload = false, saw_stopped = false;
  simdjson::ondemand::parser parser;
  while (std::getline(lines, line)) {
    ++n;
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc;
    ASSERT_EQ(parser.iterate(padded).get(doc), simdjson::SUCCESS) << line;
    simdjson::ondemand::object obj;
    ASSERT_EQ(doc.get_object().get(obj), simdjson::SUCCESS) << line;
    std::string_view time, level, message;
    ASSERT_EQ(obj["time"].get_string().get(time), simdjson::SUCCESS) << line;
    ASSERT_EQ(obj["level"].get_string().get(level), simdjson::SUCCESS) << line;
    ASSERT_EQ(obj["message"].get_string().get(message), simdjson::SUCCESS) << line;
    EXPECT_EQ(time.size(), 24u) << line;  // 2026-12-06T00:05:11.123Z
    EXPECT_EQ(time.back(), 'Z') << line;
    if (message.find("refused with 401") != std::string_view::npos) {
      saw_401 = true;
      std::string_view client, route;
      int64_t status = 0;
      EXPECT_EQ(obj["client"].get_string().get(client), simdjson::SUCCESS) << line;
      EXPECT_EQ(client, "127.0.0.1");
      EXPECT_EQ(obj["route"].get_string().get(route), simdjson::SUCCESS) << line;
      EXPECT_EQ(route, "/events");
      EXPECT_EQ(obj["status"].get_int64().get(status), simdjson::SUCCESS) << line;
      EXPECT_EQ(status, 401);
    }
    if (message.find("configuration reloaded") != std::string_view::npos) {
      saw_reload = true;
      std::string_view changed;
      EXPECT_EQ(obj["changed"].get_string().get(changed), simdjson::SUCCESS) << line;
      EXPECT_EQ(changed, "log-level");
    }
    if (message.find("stopped:") != std::string_view::npos) {
      saw_stopped = true;
      int64_t accepted = 0;
      EXPECT_EQ(obj["accepted"].get_int64().get(accepted), simdjson::SUCCESS) << line;
      EXPECT_EQ(accepted, 1);
    }
  }
  EXPECT_GE(n, 4);
  EXPECT_TRUE(saw_401) << sink_.log();
  EXPECT_TRUE(saw_reload) << sink_.log();
  EXPECT_TRUE(saw_stopped) << sink_.log();
}

}  // namespace
}  // namespace sink
