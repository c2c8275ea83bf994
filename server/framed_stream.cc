#include "server/framed_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "store/limits.h"
#include "store/monotonic.h"

namespace sink {

namespace {

thread_local FrameInfo t_frame;

}  // namespace

const FrameInfo& CurrentFrame() { return t_frame; }

FramedStream::FramedStream(int sock, int64_t read_timeout_ms, int64_t write_timeout_ms, SSL* ssl)
    : sock_(sock),
      ssl_(ssl),
      read_timeout_ms_(read_timeout_ms),
      write_timeout_ms_(write_timeout_ms) {}

bool FramedStream::WaitReadable(int64_t timeout_ms) const {
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
  pollfd p{sock_, POLLIN, 0};
  for (;;) {
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(timeout_ms, INT32_MAX)));
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

ssize_t FramedStream::RecvWithin(char* buf, size_t n, int64_t timeout_ms) {
  // Plain sockets try first and wait only when nothing has arrived: one
  // system call per read when data is there, as it mostly is.
  if (ssl_ == nullptr) {
    ssize_t got;
    do {
      got = ::recv(sock_, buf, n, MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return got;
  }
  if (!WaitReadable(timeout_ms)) return kTimedOut;
  return RecvSome(buf, n);
}

ssize_t FramedStream::RecvSome(char* buf, size_t n) {
  if (ssl_ == nullptr) {
    ssize_t got;
    do {
      got = ::recv(sock_, buf, n, 0);
    } while (got < 0 && errno == EINTR);
    return got;
  }
  const int got = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
  if (got > 0) return got;
  const int err = SSL_get_error(ssl_, got);
  return err == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

ssize_t FramedStream::SendSome(const char* buf, size_t n) {
  if (ssl_ == nullptr) {
    ssize_t sent;
    do {
      sent = ::send(sock_, buf, n, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent;
  }
  const int sent = SSL_write(ssl_, buf, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
  return sent > 0 ? sent : -1;
}

FramedStream::~FramedStream() { t_frame = FrameInfo{}; }

bool FramedStream::Fill(int64_t timeout_ms) {
  if (peer_closed_ || read_error_) return false;
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  }
  char buf[16384];
  const ssize_t n = RecvWithin(buf, sizeof buf, timeout_ms);
  if (n == kTimedOut) return false;
  if (n > 0) {
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }
  if (n == 0) {
    peer_closed_ = true;
  } else {
    read_error_ = true;
  }
  return false;
}

FramedStream::Next FramedStream::ReadRequest(int64_t idle_timeout_ms, RequestHead* head,
                                             FramingError* error) {
  // Blank lines before a request line are skipped (a few).
  size_t blanks = 0;
  size_t scanned = 0;  // bytes after in_pos_ already searched for the head's end
  const int64_t start = MonotonicMs();
  for (;;) {
    while (in_.size() - in_pos_ >= 2 && in_[in_pos_] == '\r' && in_[in_pos_ + 1] == '\n' &&
           blanks < limits::kMaxLeadingBlankLines) {
      in_pos_ += 2;
      ++blanks;
      scanned = 0;
    }
    // Look for the empty line that ends the head, refusing bare LFs early.
    const std::string_view buffered(in_.data() + in_pos_, in_.size() - in_pos_);
    size_t end = std::string_view::npos;
    for (size_t i = scanned; i < buffered.size(); ++i) {
      if (buffered[i] != '\n') continue;
      if (i == 0 || buffered[i - 1] != '\r') {
        *error = {400, "request head lines must end in CRLF"};
        return Next::kRefused;
      }
      if (i >= 3 && buffered[i - 2] == '\n') {
        end = i + 1;
        break;
      }
      if (i == 1) {  // an empty line first: more than the blank lines allowed
        *error = {400, "empty lines before the request line"};
        return Next::kRefused;
      }
    }
    if (end != std::string_view::npos) {
      if (!ParseRequestHead(buffered.substr(0, end), head, error)) return Next::kRefused;
      in_pos_ += end;
      break;
    }
    // The last byte again next time: it may be the CR of a CRLF.
    scanned = buffered.empty() ? 0 : buffered.size() - 1;
    const size_t first_eol = buffered.find('\n');
    if (first_eol == std::string_view::npos && buffered.size() > limits::kMaxRequestLine) {
      *error = {414,
                "request line longer than " + std::to_string(limits::kMaxRequestLine) + " bytes"};
      return Next::kRefused;
    }
    if (buffered.size() > limits::kMaxHeadBytes) {
      *error = {431,
                "request head larger than " + std::to_string(limits::kMaxHeadBytes) + " bytes"};
      return Next::kRefused;
    }
    // Nothing yet: the keep-alive wait; a head begun: the read timeout.
    const int64_t wait =
        buffered.empty() ? idle_timeout_ms - (MonotonicMs() - start) : read_timeout_ms_;
    if (wait <= 0 || !Fill(wait)) return Next::kClosed;
  }

  head_out_ = CanonicalHead(*head);
  head_pos_ = 0;
  framing_ = head->framing;
  body_left_ = head->framing == BodyFraming::kLength ? head->content_length : 0;
  chunked_ = ChunkedDecoder{};
  decoded_.clear();
  decoded_pos_ = 0;
  body_failed_ = false;
  t_frame = FrameInfo{};
  t_frame.active = true;
  t_frame.content_encoding = head->content_encoding;
  t_frame.has_content_encoding = head->has_content_encoding;
  t_frame.chunked = head->framing == BodyFraming::kChunked;
  return Next::kRequest;
}

bool FramedStream::BodyComplete() const {
  if (body_failed_) return false;
  switch (framing_) {
    case BodyFraming::kNone:
      return true;
    case BodyFraming::kLength:
      return body_left_ == 0;
    case BodyFraming::kChunked:
      return chunked_.done() && decoded_pos_ == decoded_.size();
  }
  return false;
}

void FramedStream::EndRequest() {
  head_out_.clear();
  head_pos_ = 0;
  framing_ = BodyFraming::kNone;
  body_left_ = 0;
  decoded_.clear();
  decoded_pos_ = 0;
  t_frame = FrameInfo{};
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > 65536) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
}

void FramedStream::WriteRefusal(const FramingError& error) {
  const std::string bytes = RefusalBytes(error);
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = write(bytes.data() + off, bytes.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

bool FramedStream::is_readable() const {
  if (head_pos_ < head_out_.size() || in_pos_ < in_.size() || decoded_pos_ < decoded_.size()) {
    return true;
  }
  return WaitReadable(read_timeout_ms_);
}

bool FramedStream::is_writable() const {
  pollfd p{sock_, POLLOUT, 0};
  return ::poll(&p, 1, static_cast<int>(write_timeout_ms_)) > 0;
}

ssize_t FramedStream::read(char* ptr, size_t size) {
  if (head_pos_ < head_out_.size()) {
    const size_t n = std::min(size, head_out_.size() - head_pos_);
    std::memcpy(ptr, head_out_.data() + head_pos_, n);
    head_pos_ += n;
    return static_cast<ssize_t>(n);
  }
  return ReadBody(ptr, size);
}

ssize_t FramedStream::ReadBody(char* ptr, size_t size) {
  if (size == 0) return 0;
  switch (framing_) {
    case BodyFraming::kNone:
      return 0;
    case BodyFraming::kLength: {
      if (body_left_ == 0) return 0;
      const size_t want = static_cast<size_t>(std::min<uint64_t>(size, body_left_));
      size_t n = 0;
      if (in_pos_ < in_.size()) {
        n = std::min(want, in_.size() - in_pos_);
        std::memcpy(ptr, in_.data() + in_pos_, n);
        in_pos_ += n;
      } else {
        // Straight from the socket: a large body is not copied twice.
        const ssize_t got = RecvWithin(ptr, want, read_timeout_ms_);
        if (got == kTimedOut) return -1;
        if (got <= 0) {
          if (got == 0) peer_closed_ = true;
          return -1;  // the body was cut short
        }
        n = static_cast<size_t>(got);
      }
      body_left_ -= n;
      t_frame.wire_bytes += n;
      return static_cast<ssize_t>(n);
    }
    case BodyFraming::kChunked: {
      while (decoded_pos_ == decoded_.size()) {
        if (chunked_.done()) return 0;
        if (chunked_.failed()) return -1;
        decoded_.clear();
        decoded_pos_ = 0;
        if (in_pos_ == in_.size() && !Fill(read_timeout_ms_)) return -1;
        const size_t used = chunked_.Feed(in_.data() + in_pos_, in_.size() - in_pos_, &decoded_);
        in_pos_ += used;
        t_frame.wire_bytes += used;
        if (chunked_.failed()) {
          body_failed_ = true;
          t_frame.body_error = chunked_.error();
          return -1;
        }
      }
      const size_t n = std::min(size, decoded_.size() - decoded_pos_);
      std::memcpy(ptr, decoded_.data() + decoded_pos_, n);
      decoded_pos_ += n;
      return static_cast<ssize_t>(n);
    }
  }
  return -1;
}

ssize_t FramedStream::write(const char* ptr, size_t size) {
  // No liveness probe (cpp-httplib's refuses to answer a half-closed client).
  // Plain sockets try first and wait only when the send buffer is full.
  if (ssl_ == nullptr) {
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return n;
  }
  pollfd p{sock_, POLLOUT, 0};
  int r;
  do {
    r = ::poll(&p, 1, static_cast<int>(write_timeout_ms_));
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return -1;
  return SendSome(ptr, size);
}

namespace {

void AddressOf(const sockaddr_storage& addr, std::string& ip, int& port) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  }
  ip = buf;
}

}  // namespace

void FramedStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    AddressOf(addr, ip, port);
  }
}

void FramedStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    AddressOf(addr, ip, port);
  }
}

}  // namespace sink
