// ClickHouseServer: a real clickhouse-server (Debian's 18.16 in CI) for
// tests, run by scripts/clickhouse-dev.sh with its own config and data
// directory on two free loopback ports. Killed (SIGKILL: 18.16 can abort in
// its Kafka shutdown; its data is safe either way) when destroyed.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sink::test {

class ClickHouseServer {
 public:
  ClickHouseServer() = default;
  ~ClickHouseServer();
  ClickHouseServer(const ClickHouseServer&) = delete;
  ClickHouseServer& operator=(const ClickHouseServer&) = delete;

  // Starts the server with its files under `dir` and waits (up to 60 s) until
  // it answers. False, with the reason in error(), otherwise.
  bool Start(const std::string& dir);
  void Kill();

  std::string url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  const std::string& error() const { return error_; }
  // The server's error log (for failure messages).
  std::string ErrorLog() const;

 private:
  pid_t pid_ = -1;
  int http_port_ = 0;
  std::string dir_;
  std::string error_;
};

// A free TCP port on 127.0.0.1 (bound, read, released).
int FreePort();

}  // namespace sink::test

namespace sink::test {

// `sessionsink dev-kafka` as a process: librdkafka's mock cluster, which
// ClickHouse's Kafka engine and the sinks reach over loopback.
class DevKafkaProcess {
 public:
  DevKafkaProcess() = default;
  ~DevKafkaProcess();  // SIGTERM, then waits
  DevKafkaProcess(const DevKafkaProcess&) = delete;
  DevKafkaProcess& operator=(const DevKafkaProcess&) = delete;

  // Starts it with these topics; waits for the bootstrap line it prints.
  bool Start(const std::vector<std::string>& topics, int partitions);
  const std::string& bootstraps() const { return bootstraps_; }

 private:
  pid_t pid_ = -1;
  std::string bootstraps_;
};

}  // namespace sink::test
