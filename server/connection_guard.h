// GuardedServer: cpp-httplib's server with the limits a thread-per-connection
// server needs in front of untrusted clients.
//
// cpp-httplib serves each connection on one pool thread for as long as the
// connection lives, and its read timeout applies to each read, so a client
// that sends one byte every few seconds ("slowloris") holds a thread
// forever, and enough of them starve every other client. GuardedServer adds:
//
//  - a deadline per connection: a request must arrive whole (headers and
//    body) and be answered within `client_timeout_ms` of the moment a pool
//    thread takes the connection or of its previous answer; the time the
//    sink itself spends on the request (waiting for the commit, computing a
//    report: see Busy) does not count, and after it the answer has a whole
//    timeout to be written. A watchdog thread shuts expired connections
//    down (deadlines are renewed from cpp-httplib's logger callback, so the
//    server's logger must not be replaced);
//  - a limit per client address on its connections accepted at once
//    (waiting for a thread or being served);
//  - a bound on the connections accepted at once (served or waiting for a
//    pool thread): past `max_connections`, new ones are answered 503 at
//    once and closed.
//
// Refused connections get a complete `503` with `Retry-After: 1` and
// `Connection: close`, so a media server resends later.
//
// cpp-httplib 0.11 hands each accepted socket to its task queue inside a
// closure and keeps its per-connection code private; GuardedServer learns
// the socket from accept(2) on the accepting thread (see connection_guard.cc).
//
// With EnableTls(), each connection starts with a TLS handshake (OpenSSL,
// bounded by the read timeout and the connection deadline).
//
// Each connection's requests are framed by server/http_framing.h, not by
// cpp-httplib: GuardedServer overrides its per-connection loop
// (process_and_close_socket) and hands each checked request to its
// process_request. Its post-routing handler and logger are GuardedServer's:
// do not replace them.
#pragma once

#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace sink {

struct ConnectionLimits {
  int threads = 64;               // pool threads serving connections
  size_t max_connections = 1024;  // accepted at once: served or waiting for a thread
  int max_per_client = 16;        // connections accepted at once per address; 0: no limit
  int64_t client_timeout_ms = 30000;
};

struct ConnectionStats {
  uint64_t open = 0;       // connections being served now
  uint64_t timed_out = 0;  // shut down by the deadline
  uint64_t refused_per_client = 0;
  uint64_t refused_queue_full = 0;
  uint64_t unguarded = 0;  // served without limits (socket unknown): should stay 0
  // Requests refused by the framing layer (server/http_framing.h), by answer.
  uint64_t malformed = 0;
};

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(const ConnectionLimits& limits);
  ~GuardedServer() override;

  ConnectionStats stats() const;

  // Changes the limits from now on (a reload): the total and per-address
  // bounds apply to the next connections accepted, the timeout to every
  // connection's next request. `threads` cannot change (the pool is built).
  void SetLimits(const ConnectionLimits& limits);

  // Serves HTTPS with this certificate chain and key (PEM files), TLS 1.2
  // or later, from now on. Call before serving. Error: a file cannot be
  // read or the key does not match the certificate.
  std::string EnableTls(const std::string& cert_file, const std::string& key_file);

  // While alive, the current connection's deadline is paused: the sink, not
  // the client, is taking the time. Use on the thread serving the request.
  class Busy {
   public:
    Busy();
    ~Busy();
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
  };

 private:
  struct Conn {
    int guard_fd = -1;  // a dup of the socket: shutting it down ends the connection
    int64_t deadline_ms = 0;
    int64_t paused_at_ms = 0;  // 0: running
  };
  struct Lingering {
    int sock;
    int64_t until_ms;
  };
  class Pool;

  // The connection's keep-alive loop, with strict framing (http_framing.h).
  bool process_and_close_socket(socket_t sock) override;
  void Watch();
  void RequestDone();
  // Closes `sock` after draining what the client still sends, for up to a
  // second, on the watchdog thread: the answer is read, not reset.
  void Linger(socket_t sock);
  // Counts a connection from `client` in, or refuses it (false) when the
  // address is at its limit. Release() counts it out.
  bool Admit(const std::string& client);
  void Release(const std::string& client);
  // Runs `serve` (cpp-httplib's closure that serves and closes `sock`) on a
  // pool thread, within the limits; refuses the connection when over them.
  void Serve(int sock, const std::function<void()>& serve);
  // Answers 503 on a connection that will not be served, then drains and
  // closes it on the watchdog thread.
  void Refuse(socket_t sock, const char* why);

  ConnectionLimits limits_;  // guarded by mu_ (threads: fixed at construction)
  std::atomic<size_t> max_connections_;
  SSL_CTX* tls_ = nullptr;  // set before serving, then read only
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                  // guarded by mu_
  std::list<Conn> conns_;                  // guarded by mu_
  std::map<std::string, int> per_client_;  // guarded by mu_
  std::list<Lingering> lingering_;         // guarded by mu_
  ConnectionStats stats_;                  // guarded by mu_ (open = conns_.size())
  std::atomic<uint64_t> refused_queue_full_{0};
  std::atomic<uint64_t> unguarded_{0};
  std::atomic<uint64_t> malformed_{0};
  std::thread watchdog_;

  friend class Busy;
  friend class Pool;
};

}  // namespace sink
