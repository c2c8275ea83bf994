// sessionsink-noop: the HTTP ceiling. cpp-httplib configured exactly like
// the sink (TCP_NODELAY, thread per connection, unlimited keep-alive,
// backlog 1024), reading each body and answering a fixed 200 — no parsing,
// no storage. The sink's events/s divided by this one's, in the same run, is
// how much of the HTTP layer's capacity the sink keeps.
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

int main(int argc, char** argv) {
  CLI::App app{"sessionsink-noop: a no-op HTTP sink, for the benchmark's HTTP ceiling"};
  int port = 0, threads = 64;
  app.add_option("--port", port, "Port on 127.0.0.1 (0: any, printed).");
  app.add_option("--threads", threads, "Worker threads.")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  httplib::Server s;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_tcp_nodelay(true);
  s.set_keep_alive_max_count(1000000);
  s.set_keep_alive_timeout(10);
  auto listen_fd = std::make_shared<int>(-1);
  s.set_socket_options([listen_fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (*listen_fd < 0) *listen_fd = sock;
  });
  s.Post("/events", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content("{\"accepted\":" + std::to_string(req.body.size() > 0) +
                        ",\"duplicates\":0,\"rejected\":0,\"errors\":[]}\n",
                    "application/json");
  });
  port = port ? (s.bind_to_port("127.0.0.1", port) ? port : -1) : s.bind_to_any_port("127.0.0.1");
  if (port < 0) return 1;
  ::listen(*listen_fd, 1024);
  std::printf("listening on http://127.0.0.1:%d\n", port);
  std::fflush(stdout);
  s.listen_after_bind();
  return 0;
}
