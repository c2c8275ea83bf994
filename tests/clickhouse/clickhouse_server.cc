#include "tests/clickhouse/clickhouse_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace sink::test {

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

ClickHouseServer::~ClickHouseServer() { Kill(); }

void ClickHouseServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool ClickHouseServer::Start(const std::string& dir) {
  dir_ = dir;
  std::filesystem::create_directories(dir);
  for (int attempt = 0; attempt < 3; ++attempt) {
    http_port_ = FreePort();
    const int tcp_port = FreePort();
    const std::string script = std::string(SINK_SOURCE_DIR) + "/scripts/clickhouse-dev.sh";
    const std::string out = dir + "/stdout.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    std::vector<std::string> args = {"bash", script, dir, std::to_string(http_port_),
                                     std::to_string(tcp_port)};
    std::vector<char*> argv;
    for (std::string& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, "bash", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      error_ = "cannot run " + script;
      pid_ = -1;
      return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      httplib::Client cli("127.0.0.1", http_port_);
      cli.set_connection_timeout(1);
      auto r = cli.Get("/ping");
      if (r && r->status == 200) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;  // exited: a port taken meanwhile? try other ports
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Kill();
  }
  std::ifstream in(dir + "/stdout.log");
  std::stringstream ss;
  ss << in.rdbuf();
  error_ = "clickhouse-server did not start: " + ss.str() + ErrorLog();
  return false;
}

std::string ClickHouseServer::ErrorLog() const {
  std::ifstream in(dir_ + "/log/clickhouse-server.err.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

}  // namespace sink::test

namespace sink::test {

DevKafkaProcess::~DevKafkaProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
}

bool DevKafkaProcess::Start(const std::vector<std::string>& topics, int partitions) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::vector<std::string> args = {SESSIONSINK_BIN, "dev-kafka", "--partitions",
                                   std::to_string(partitions)};
  for (const std::string& t : topics) {
    args.push_back("--topic");
    args.push_back(t);
  }
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&pid_, SESSIONSINK_BIN, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    pid_ = -1;
    return false;
  }
  std::string line;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') line += c;
  close(fds[0]);
  bootstraps_ = line;
  return !line.empty();
}

}  // namespace sink::test
