// SinkProcess: runs the real build/sessionsink binary for black-box tests.
// Starts it on 127.0.0.1 port 0, learns the port from its log, and keeps
// its log (stderr) for assertions. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sink::test {

class SinkProcess {
 public:
  SinkProcess() = default;
  ~SinkProcess();  // SIGKILLs the process if still running
  SinkProcess(const SinkProcess&) = delete;
  SinkProcess& operator=(const SinkProcess&) = delete;

  // Runs `sessionsink serve --listen 127.0.0.1:0 <args>`; waits until it
  // listens. Returns false (with the log in log()) when it exits instead.
  bool Start(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
  // Runs `sessionsink <args>` to completion; returns its exit code. Output in log().
  int RunToExit(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
  // Sends `sig` and waits for exit; returns the exit code (128+sig if killed).
  int Stop(int sig);
  // POST /flush: the sessions table is current when it returns true.
  // `token`: the sink's --token, if it has one.
  bool Flush(const std::string& token = "");

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const;
  // Waits up to `timeout_ms` for `text` to appear in the log: lines come
  // through a pipe and a reader thread, so one the sink wrote before its
  // answer may reach log() a little after it.
  bool WaitForLog(const std::string& text, int timeout_ms = 5000) const;

 private:
  bool Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  int Wait();

  pid_t pid_ = -1;
  int port_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string log_;  // guarded by mu_
};

}  // namespace sink::test
