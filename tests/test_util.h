// Helpers shared by the test binaries.
#pragma once

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <sys/types.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "ingest/platforms/flussonic.h"
#include "ingest/platforms/nginx_rtmp.h"
#include "store/sqlite.h"
#include "store/status.h"
#include "store/writer.h"

#define ASSERT_OK(expr)                    \
  do {                                     \
    const ::sink::Status _s = (expr);      \
    ASSERT_TRUE(_s.ok()) << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                    \
  do {                                     \
    const ::sink::Status _s = (expr);      \
    EXPECT_TRUE(_s.ok()) << _s.ToString(); \
  } while (0)

namespace sink::test {

// A fresh directory under $TMPDIR, removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Parses `body` as the HTTP handler does (padded copy).
Result<ParsedBody> Parse(std::string_view body);

// One nginx-rtmp callback as the sink receives it.
struct NginxCallback {
  int64_t received_at = 0;  // sink clock, ms
  std::string instance;
  std::string form;  // the POST body (or GET query)
};

// A file of nginx-rtmp callbacks (tests/golden*/<case>/*.nginx), one per
// line: "<received_at ms> <instance> <form body>"; blank lines and lines
// starting with '#' are skipped. Fails the test on a malformed line.
std::vector<NginxCallback> ReadNginxCallbacks(const std::string& text);

// Runs `callbacks` through `adapter` in order: one batch per callback, with
// its receive time, as the endpoint submits them.
std::vector<WriteBatch> NginxBatches(NginxRtmp& adapter,
                                     const std::vector<NginxCallback>& callbacks);

// Reads a whole file; fails the test when it cannot.
std::string ReadFile(const std::string& path);

// A generated session lifecycle for property tests: opened, authorized,
// started, random updated/stalled/recovered, usually closed; random kinds,
// fields that differ between events, some events without utc_ms.
std::vector<Event> Lifecycle(std::mt19937& rng, const std::string& id);

// Runs `sql` and returns the rows as tab-separated lines, NULL as "NULL".
// Makes the event log readable on `db` (the main file) as the temporary
// tables `events` and `log_rejected`: a snapshot of every segment, raw or
// compact, read through LogReader (QueryRows does it when a query names
// them).
void ExposeLog(Db& db);
std::vector<std::string> QueryRows(Db& db, const std::string& sql);
std::vector<std::string> QueryRows(const std::string& db_path, const std::string& sql);

// A Kafka consumer assigned to partitions 0..partitions-1 of `topic` from
// the beginning (no group commits; `eof`: report partition ends). Null, and
// a test failure, when it cannot be created. rd_kafka_destroy() it.
rd_kafka_t* ConsumerFromStart(const std::string& brokers, const std::string& topic, int partitions,
                              bool eof = false);

// `in` compressed as gzip (the best compression).
std::string Gzip(const std::string& in);

// The peak resident memory (VmHWM) of a process, in KiB; -1 when unknown.
int64_t PeakRssKib(pid_t pid);

// A datagram socket standing in for systemd's notification socket
// (NOTIFY_SOCKET), which any user may send to.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  bool bound() const { return bound_; }
  // Waits for a datagram containing `what`; returns it, or "" after the timeout.
  std::string WaitFor(const std::string& what,
                      std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Every datagram received so far, each followed by "\n---\n".
  const std::string& seen() const { return seen_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::string seen_;
};

}  // namespace sink::test
