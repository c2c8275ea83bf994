// Disk trouble against the real binary: the database on a filesystem that
// fills up (a small tmpfs this test mounts), and on a read-only one.
//
// The test process moves into a mount namespace of its own before any
// thread starts (as root: CLONE_NEWNS; otherwise inside a user namespace
// that maps the caller to root), so its mounts are private and vanish with
// it; the sinks it starts inherit the namespace.
#include <errno.h>
#include <fcntl.h>
#include <httplib.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using Clock = std::chrono::steady_clock;

bool WriteProcFile(const char* path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  return static_cast<bool>(f.flush());
}

// Why this process cannot have private mounts, or "" once it has them.
std::string EnterMountNamespace() {
  if (::unshare(CLONE_NEWNS) != 0) {
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      return std::string("unshare(CLONE_NEWUSER|CLONE_NEWNS): ") + std::strerror(errno);
    }
    WriteProcFile("/proc/self/setgroups", "deny");
    if (!WriteProcFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !WriteProcFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return "cannot write the user namespace's id maps";
    }
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("making / private: ") + std::strerror(errno);
  }
  return "";
}

// Mounts a tmpfs of `bytes` on `dir` (options e.g. "ro"); "" or why not.
std::string MountTmpfs(const std::string& dir, size_t bytes, unsigned long flags = 0) {
  const std::string opts = "size=" + std::to_string(bytes) + ",mode=0755";
  if (::mount("tmpfs", dir.c_str(), "tmpfs", flags, opts.c_str()) != 0) {
    return "mount tmpfs on " + dir + ": " + std::strerror(errno);
  }
  return "";
}

// Writes zeros to `path` until the filesystem has no space left; returns
// the bytes written.
size_t FillUp(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return 0;
  size_t total = 0;
  std::string block(64 * 1024, '\0');
  for (size_t size = block.size(); size >= 512; size /= 2) {
    for (;;) {
      const ssize_t n = ::write(fd, block.data(), size);
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
  }
  ::fsync(fd);
  ::close(fd);
  return total;
}

std::string Batch(int batch, int n) {
  std::string body = "[";
  for (int i = 0; i < n; ++i) {
    if (i) body += ',';
    body += R"({"event":")" + std::string(i < 10 ? "play_opened" : "play_updated") +
            R"(","id":"d)" + std::to_string(batch) + "-" + std::to_string(i % 10) +
            R"(","event_id":)" + std::to_string(batch * 1000 + i) +
            R"(,"server":"edge1","media":"ch1","user_id":"u)" + std::to_string(i % 7) +
            R"(","utc_ms":)" + std::to_string(1700000000000 + batch * 1000 + i) + R"(,"bytes":)" +
            std::to_string(i * 1000) + "}";
  }
  return body + "]";
}

class DiskTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { *namespace_error_ = EnterMountNamespace(); }

  void SetUp() override {
    ASSERT_EQ(*namespace_error_, "")
        << "the disk tests need a private mount namespace (root, or unprivileged user "
           "namespaces enabled)";
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  }
  void TearDown() override { ::umount2(dir_.c_str(), MNT_DETACH); }

  // The batches (Batch's `batch` numbers) with events in `db`.
  static std::set<int> StoredBatches(const std::string& db) {
    std::set<int> stored;
    for (const std::string& r : test::QueryRows(db, "SELECT DISTINCT event_id / 1000 FROM events"))
      stored.insert(std::stoi(r));
    return stored;
  }

  static inline std::string* namespace_error_ = new std::string;
  test::TempDir tmp_;
  std::string dir_ = tmp_.File("mnt");
};

// The filesystem fills up under load: the sink answers 503 with
// Retry-After and acknowledges nothing it could not commit; when space
// returns it takes events again without a restart; the file is intact and
// holds exactly the acknowledged events.
TEST_F(DiskTest, FullFilesystemIs503WithoutAckAndIngestResumesWhenSpaceReturns) {
  ASSERT_EQ(MountTmpfs(dir_, 8u << 20), "");
  const std::string db = dir_ + "/sessions.db";
  test::SinkProcess sink;
  ASSERT_TRUE(sink.Start({"--db", db})) << sink.log();
  httplib::Client cli("127.0.0.1", sink.port());
  cli.set_read_timeout(30, 0);
  auto post = [&](int b) -> httplib::Result {
    return cli.Post("/events", Batch(b, 50), "application/json");
  };

  std::set<int> acked, refused;
  int b = 0;
  for (; b < 20; ++b) {
    auto r = post(b);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    acked.insert(b);
  }
  const size_t filler = FillUp(dir_ + "/filler");
  ASSERT_GT(filler, 0u);

  // Full: sooner or later (SQLite first reuses space its files already
  // have) every batch is refused.
  for (; b < 2000 && refused.size() < 20; ++b) {
    auto r = post(b);
    ASSERT_TRUE(r);
    if (r->status == 200) {  // SQLite found room in pages its files already have
      acked.insert(b);
      continue;
    }
    ASSERT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_NE(r->body.find("database"), std::string::npos) << r->body;
    refused.insert(b);
  }
  ASSERT_EQ(refused.size(), 20u) << "a full filesystem never refused a batch";
  auto ready = cli.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503) << ready->body;
  RecordProperty("batches_acked_before_full", static_cast<int>(acked.size()));
  RecordProperty("filler_bytes", static_cast<int>(filler));
  // The operator learns why from the log.
  EXPECT_TRUE(sink.WaitForLog("refusing events with 503")) << sink.log();
  EXPECT_TRUE(sink.WaitForLog("database or disk is full")) << sink.log();

  // Space returns: the sink takes events again, no restart.
  ASSERT_EQ(::unlink((dir_ + "/filler").c_str()), 0);
  const auto t0 = Clock::now();
  int resumed_after_ms = -1;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto r = post(b);
    ASSERT_TRUE(r);
    if (r->status == 200) {
      resumed_after_ms = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
      acked.insert(b++);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(resumed_after_ms, 0) << "no 200 within 10 s of space returning\n" << sink.log();
  RecordProperty("resumed_after_ms", resumed_after_ms);
  for (int i = 0; i < 10; ++i, ++b) {
    auto r = post(b);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    acked.insert(b);
  }
  ready = cli.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_TRUE(sink.WaitForLog("events are committed again")) << sink.log();
  EXPECT_EQ(sink.Stop(SIGTERM), 0) << sink.log();

  // Exactly the acknowledged batches are stored, whole; the file is intact.
  EXPECT_EQ(test::QueryRows(db, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  EXPECT_EQ(StoredBatches(db), acked);
  EXPECT_EQ(test::QueryRows(db, "SELECT count(*) FROM events")[0],
            std::to_string(acked.size() * 50));
  EXPECT_EQ(test::QueryRows(db, "SELECT count(*) FROM sessions")[0],
            std::to_string(acked.size() * 10));
}

// Killed while the filesystem is full, started again while it still is,
// then given space: nothing acknowledged is lost and the file is intact.
TEST_F(DiskTest, KilledWhileFullAndRestartedLosesNothing) {
  ASSERT_EQ(MountTmpfs(dir_, 8u << 20), "");
  const std::string db = dir_ + "/sessions.db";
  std::set<int> acked;
  int b = 0;
  auto post_until_refused = [&](test::SinkProcess& sink) {
    httplib::Client cli("127.0.0.1", sink.port());
    cli.set_read_timeout(30, 0);
    for (int refused = 0; refused < 5 && b < 2000; ++b) {
      auto r = cli.Post("/events", Batch(b, 50), "application/json");
      ASSERT_TRUE(r);
      if (r->status == 200) {
        acked.insert(b);
      } else {
        ASSERT_EQ(r->status, 503) << r->body;
        ++refused;
      }
    }
  };
  {
    test::SinkProcess sink;
    ASSERT_TRUE(sink.Start({"--db", db})) << sink.log();
    post_until_refused(sink);  // the sink fills the filesystem itself
    ASSERT_EQ(sink.Stop(SIGKILL), 128 + SIGKILL);
  }
  {
    test::SinkProcess sink;  // still full: it starts, and refuses what it cannot store
    ASSERT_TRUE(sink.Start({"--db", db})) << sink.log();
    post_until_refused(sink);
    ASSERT_EQ(sink.Stop(SIGKILL), 128 + SIGKILL);
  }
  ASSERT_EQ(::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT, "size=16m"), 0)
      << std::strerror(errno);
  test::SinkProcess sink;
  ASSERT_TRUE(sink.Start({"--db", db})) << sink.log();
  httplib::Client cli("127.0.0.1", sink.port());
  auto r = cli.Post("/events", Batch(b, 50), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  acked.insert(b);
  EXPECT_EQ(sink.Stop(SIGTERM), 0) << sink.log();
  EXPECT_EQ(test::QueryRows(db, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  EXPECT_EQ(StoredBatches(db), acked);
  RecordProperty("batches_acked", static_cast<int>(acked.size()));
}

// A database directory the sink cannot write: it refuses to start and says
// why, naming the file.
TEST_F(DiskTest, ReadOnlyFilesystemIsAClearErrorAtStart) {
  ASSERT_EQ(MountTmpfs(dir_, 1u << 20, MS_RDONLY), "");
  test::SinkProcess sink;
  EXPECT_EQ(sink.RunToExit({"serve", "--listen", "127.0.0.1:0", "--db", dir_ + "/sessions.db"}), 1);
  EXPECT_NE(sink.log().find(dir_ + "/sessions.db"), std::string::npos) << sink.log();
  EXPECT_NE(sink.log().find("Read-only file system"), std::string::npos) << sink.log();
}

// An existing database whose filesystem became read-only (e.g. remounted
// after disk errors): the same.
TEST_F(DiskTest, ExistingDatabaseOnAReadOnlyFilesystemIsAClearErrorAtStart) {
  ASSERT_EQ(MountTmpfs(dir_, 4u << 20), "");
  const std::string db = dir_ + "/sessions.db";
  {
    test::SinkProcess sink;
    ASSERT_TRUE(sink.Start({"--db", db})) << sink.log();
    httplib::Client cli("127.0.0.1", sink.port());
    auto r = cli.Post("/events", Batch(0, 20), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    ASSERT_EQ(sink.Stop(SIGTERM), 0);
  }
  ASSERT_EQ(::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  test::SinkProcess sink;
  EXPECT_EQ(sink.RunToExit({"serve", "--listen", "127.0.0.1:0", "--db", db}), 1);
  EXPECT_NE(sink.log().find(db), std::string::npos) << sink.log();
  EXPECT_NE(sink.log().find("Read-only file system"), std::string::npos) << sink.log();
  // Nothing was touched: writable again, the events are all there.
  ASSERT_EQ(::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT, nullptr), 0)
      << std::strerror(errno);
  EXPECT_EQ(test::QueryRows(db, "SELECT count(*) FROM events")[0], "20");
  EXPECT_EQ(test::QueryRows(db, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
}

}  // namespace
}  // namespace sink
