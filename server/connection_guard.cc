#include "server/connection_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <utility>
#include <vector>

#include "server/framed_stream.h"
#include "store/monotonic.h"

namespace sink {

namespace {

// The client's address, without the port ("127.0.0.1", "2001:db8::1").
std::string PeerAddress(int sock) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char buf[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
  } else if (addr.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

// How long a refused connection is drained before it is closed: closing
// with the client's request unread would send a reset, and the client's
// kernel would then drop the 503 before the client reads it.
constexpr int64_t kLingerMs = 1000;
constexpr size_t kMaxLingering = 1024;
// Bytes read from one refused connection per watchdog round.
constexpr size_t kDrainPerRound = 64 * 1024;
constexpr int64_t kWatchEveryMs = 50;

// The socket accept(2) last returned on this thread (see accept() below).
thread_local int t_last_accepted = -1;

struct Current {
  GuardedServer* server = nullptr;
  void* conn = nullptr;  // std::list<Conn>::iterator's node, as seen by Busy
};
thread_local Current t_current;

// Set by the post-routing handler when the answer says Connection: close.
thread_local bool t_answer_closes = false;

}  // namespace

}  // namespace sink

// cpp-httplib's accept loop calls accept(2) and, on the same thread, hands
// the new socket to TaskQueue::enqueue() inside an opaque closure. This
// definition, found before the C library's by the dynamic linker, records
// the socket so that the pool knows which connection a closure serves.
// Other callers of accept() in the process are unaffected.
extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) {
  const int sock = ::accept4(fd, addr, len, 0);
  sink::t_last_accepted = sock;
  return sock;
}

namespace sink {

// cpp-httplib's thread pool with a bound on the connections accepted at
// once (waiting or being served); past it, a connection is refused at once.
class GuardedServer::Pool : public httplib::TaskQueue {
 public:
  Pool(GuardedServer* server, int threads) : server_(server) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }

  void enqueue(std::function<void()> fn) override {
    const int sock = std::exchange(t_last_accepted, -1);
    std::string client;
    if (sock >= 0) {
      // Counted from here, waiting or served, so that one address cannot
      // fill the wait queue either.
      client = PeerAddress(sock);
      if (!server_->Admit(client)) {
        server_->Refuse(sock, "too many connections from this address: try again later");
        return;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (accepted_ < server_->max_connections_.load() && !stopping_) {
        ++accepted_;
        queue_.push_back({sock, std::move(client), std::move(fn)});
        cv_.notify_one();
        return;
      }
    }
    if (sock < 0) {  // unknown socket: cannot refuse it, so serve it here
      server_->unguarded_.fetch_add(1);
      fn();
      return;
    }
    server_->Release(client);
    server_->refused_queue_full_.fetch_add(1);
    server_->Refuse(sock, "too many connections: try again later");
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and every waiting connection served
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      server_->Serve(task.sock, task.serve);
      if (task.sock >= 0) server_->Release(task.client);
      std::lock_guard<std::mutex> lock(mu_);
      --accepted_;
    }
  }

  struct Task {
    int sock = -1;
    std::string client;  // its address, when the socket is known
    std::function<void()> serve;
  };
  GuardedServer* const server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;  // guarded by mu_
  size_t accepted_ = 0;     // waiting in queue_ or being served; guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::vector<std::thread> threads_;
};

GuardedServer::GuardedServer(const ConnectionLimits& limits)
    : limits_(limits), max_connections_(limits.max_connections) {
  const int threads = limits_.threads;
  new_task_queue = [this, threads] { return new Pool(this, threads); };
  set_logger([this](const httplib::Request&, const httplib::Response&) { RequestDone(); });
  // An answer that closes the connection (a refusal whose body was not
  // read) must not also offer keep-alive, and the connection must close.
  set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.get_header_value("Connection") == "close") {
      res.headers.erase("Keep-Alive");
      t_answer_closes = true;
    }
  });
  watchdog_ = std::thread([this] { Watch(); });
}

GuardedServer::~GuardedServer() {
  if (tls_ != nullptr) SSL_CTX_free(tls_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
}

void GuardedServer::SetLimits(const ConnectionLimits& limits) {
  std::lock_guard<std::mutex> lock(mu_);
  const int threads = limits_.threads;
  limits_ = limits;
  limits_.threads = threads;
  max_connections_ = limits.max_connections;
}

ConnectionStats GuardedServer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ConnectionStats s = stats_;
  s.open = conns_.size();
  s.refused_queue_full = refused_queue_full_.load();
  s.malformed = malformed_.load();
  s.unguarded = unguarded_.load();
  return s;
}

void GuardedServer::Refuse(socket_t sock, const char* why) {
  const std::string body = std::string("{\"error\":\"") + why + "\"}\n";
  const std::string answer =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ssize_t ignored = ::send(sock, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)ignored;
  Linger(sock);
}

void GuardedServer::Linger(socket_t sock) {
  ::shutdown(sock, SHUT_WR);
  std::lock_guard<std::mutex> lock(mu_);
  if (lingering_.size() < kMaxLingering && !stopping_) {
    lingering_.push_back({sock, MonotonicMs() + kLingerMs});
  } else {
    ::close(sock);
  }
}

void GuardedServer::Serve(int sock, const std::function<void()>& serve) {
  if (sock < 0) {
    unguarded_.fetch_add(1);
    serve();
    return;
  }
  const int guard = ::dup(sock);
  if (guard < 0) {  // out of descriptors: a connection without a deadline is not served
    Refuse(sock, "the server is out of file descriptors: try again later");
    return;
  }
  std::list<Conn>::iterator it;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Conn c;
    c.guard_fd = guard;
    c.deadline_ms = MonotonicMs() + limits_.client_timeout_ms;
    it = conns_.insert(conns_.end(), std::move(c));
  }
  t_current = {this, &*it};
  serve();  // reads requests, answers them, closes `sock`
  t_current = {};
  std::lock_guard<std::mutex> lock(mu_);
  if (it->guard_fd >= 0) ::close(it->guard_fd);
  conns_.erase(it);
}

std::string GuardedServer::EnableTls(const std::string& cert_file, const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return "cannot create a TLS context";
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  std::string error;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    error = "cannot read the certificate chain --tls-cert '" + cert_file + "' (PEM)";
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = "cannot read the private key --tls-key '" + key_file + "' (PEM)";
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    error = "--tls-key does not match the certificate of --tls-cert";
  }
  if (!error.empty()) {
    SSL_CTX_free(ctx);
    return error;
  }
  tls_ = ctx;
  return "";
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  const int64_t read_ms =
      static_cast<int64_t>(read_timeout_sec_) * 1000 + read_timeout_usec_ / 1000;
  const int64_t write_ms =
      static_cast<int64_t>(write_timeout_sec_) * 1000 + write_timeout_usec_ / 1000;
  bool linger = false;
  SSL* ssl = nullptr;
  if (tls_ != nullptr) {
    // Blocking TLS reads and writes are bounded like the plain ones.
    timeval rt{static_cast<time_t>(read_ms / 1000),
               static_cast<suseconds_t>(read_ms % 1000 * 1000)};
    timeval wt{static_cast<time_t>(write_ms / 1000),
               static_cast<suseconds_t>(write_ms % 1000 * 1000)};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt);
    ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &wt, sizeof wt);
    ssl = SSL_new(tls_);
    if (ssl == nullptr || SSL_set_fd(ssl, sock) != 1 || SSL_accept(ssl) != 1) {
      if (ssl != nullptr) SSL_free(ssl);
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
      return false;
    }
  }
  {
    FramedStream strm(sock, read_ms, write_ms, ssl);
    size_t count = keep_alive_max_count_;
    while (svr_sock_ != INVALID_SOCKET && count > 0) {
      --count;
      RequestHead head;
      FramingError error;
      const FramedStream::Next next =
          strm.ReadRequest(static_cast<int64_t>(keep_alive_timeout_sec_) * 1000, &head, &error);
      if (next == FramedStream::Next::kClosed) break;
      if (next == FramedStream::Next::kRefused) {
        malformed_.fetch_add(1);
        strm.WriteRefusal(error);
        RequestDone();
        linger = true;
        break;
      }
      const bool close = !head.keep_alive || count == 0;
      bool connection_closed = false;
      t_answer_closes = false;
      const bool ok = process_request(strm, close, connection_closed, nullptr);
      const bool complete = strm.BodyComplete();
      const bool answer_closes = t_answer_closes;
      strm.EndRequest();
      if (!complete) {
        // Bytes of this request are still coming: they must never be taken
        // for the next request.
        linger = true;
        break;
      }
      if (!ok || close || connection_closed || answer_closes) break;
    }
  }
  if (ssl != nullptr) {
    SSL_shutdown(ssl);  // close_notify; the client's is not awaited
    SSL_free(ssl);
  }
  if (linger) {
    Linger(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return true;
}

bool GuardedServer::Admit(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  int& n = per_client_[client];
  if (limits_.max_per_client > 0 && n >= limits_.max_per_client) {
    if (n == 0) per_client_.erase(client);
    ++stats_.refused_per_client;
    return false;
  }
  ++n;
  return true;
}

void GuardedServer::Release(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second <= 0) per_client_.erase(it);
}

void GuardedServer::RequestDone() {
  if (t_current.server != this) return;
  auto* c = static_cast<Conn*>(t_current.conn);
  std::lock_guard<std::mutex> lock(mu_);
  c->deadline_ms = MonotonicMs() + limits_.client_timeout_ms;
}

GuardedServer::Busy::Busy() {
  GuardedServer* s = t_current.server;
  if (s == nullptr) return;
  std::lock_guard<std::mutex> lock(s->mu_);
  static_cast<Conn*>(t_current.conn)->paused_at_ms = MonotonicMs();
}

GuardedServer::Busy::~Busy() {
  GuardedServer* s = t_current.server;
  if (s == nullptr) return;
  std::lock_guard<std::mutex> lock(s->mu_);
  auto* c = static_cast<Conn*>(t_current.conn);
  // The pause is added back; and once the sink's work is done, the answer
  // gets a whole timeout to be written, however late the request came.
  const int64_t now = MonotonicMs();
  c->deadline_ms =
      std::max(c->deadline_ms + (now - c->paused_at_ms), now + s->limits_.client_timeout_ms);
  c->paused_at_ms = 0;
}

void GuardedServer::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(kWatchEveryMs));
    const int64_t now = MonotonicMs();
    for (Conn& c : conns_) {
      if (c.paused_at_ms == 0 && c.guard_fd >= 0 && now >= c.deadline_ms) {
        ::shutdown(c.guard_fd, SHUT_RDWR);  // the serving thread's read or write fails
        ::close(c.guard_fd);
        c.guard_fd = -1;
        ++stats_.timed_out;
      }
    }
    // Drain refused connections until the client closes or time is up,
    // a bounded amount each round and without the lock: a client that keeps
    // sending must not hold up the pool.
    std::list<Lingering> draining;
    draining.swap(lingering_);
    lock.unlock();
    for (auto l = draining.begin(); l != draining.end();) {
      char buf[4096];
      ssize_t n = -1;
      for (size_t read = 0; read < kDrainPerRound; read += static_cast<size_t>(n)) {
        n = ::recv(l->sock, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) break;
      }
      const bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      if (closed || now >= l->until_ms) {
        ::close(l->sock);
        l = draining.erase(l);
      } else {
        ++l;
      }
    }
    lock.lock();
    lingering_.splice(lingering_.end(), draining);
  }
  for (const Lingering& l : lingering_) ::close(l.sock);
  lingering_.clear();
}

}  // namespace sink
