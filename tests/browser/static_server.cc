// A static file server for the browser tests: serves directories on
// 127.0.0.1 and prints "listening on http://127.0.0.1:PORT" once it accepts.
//
//   sink_static_server [--port N] [--max-seconds S] /prefix=DIR [/prefix=DIR ...]
//
// Port 0 (the default) picks a free port. The server stops on SIGTERM or
// SIGINT, or by itself after --max-seconds (default 300), so a test that
// dies never leaves it behind.
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  int port = 0;
  int max_seconds = 300;
  httplib::Server server;
  int mounts = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (arg == "--max-seconds" && i + 1 < argc) {
      max_seconds = std::atoi(argv[++i]);
    } else if (const size_t eq = arg.find('='); !arg.empty() && arg[0] == '/' && eq != arg.npos) {
      if (!server.set_mount_point(arg.substr(0, eq), arg.substr(eq + 1))) {
        std::fprintf(stderr, "not a directory: %s\n", arg.substr(eq + 1).c_str());
        return 2;
      }
      ++mounts;
    } else {
      std::fprintf(stderr, "usage: %s [--port N] [--max-seconds S] /prefix=DIR [/prefix=DIR ...]\n",
                   argv[0]);
      return 2;
    }
  }
  if (mounts == 0) {
    std::fprintf(stderr, "nothing to serve: give at least one /prefix=DIR\n");
    return 2;
  }
  // One line per request on stderr (the test shows it when it fails).
  server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    std::fprintf(stderr, "%s %s %d (Host %s, Origin %s)\n", req.method.c_str(), req.path.c_str(),
                 res.status, req.get_header_value("Host").c_str(),
                 req.get_header_value("Origin").c_str());
  });
  // Pages must never be cached between the runs of a test.
  server.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
  });

  const int bound = port == 0 ? server.bind_to_any_port("127.0.0.1")
                              : (server.bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound <= 0) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  // The socket already listens: connections wait in its backlog until the
  // accept loop runs.
  std::thread loop([&server] { server.listen_after_bind(); });
  std::fprintf(stderr, "listening on http://127.0.0.1:%d\n", bound);
  std::fflush(stderr);

  timespec timeout{max_seconds, 0};
  sigtimedwait(&sigs, nullptr, &timeout);  // a signal, or the time is up
  server.stop();
  loop.join();
  return 0;
}
