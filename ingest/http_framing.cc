#include "ingest/http_framing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include "ingest/limits.h"
#include "store/json_text.h"

namespace sink {

namespace {

thread_local FrameInfo t_frame;

bool IsTchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]);
    const unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    if ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z') return false;
  }
  return true;
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The elements of a comma-separated field value (RFC 9110 §5.6.1), blanks
// trimmed, empty elements dropped.
std::vector<std::string_view> ListElements(std::string_view v) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = v.find(',', pos);
    if (comma == std::string_view::npos) comma = v.size();
    std::string_view e = TrimBlanks(v.substr(pos, comma - pos));
    if (!e.empty()) out.push_back(e);
    pos = comma + 1;
  }
  return out;
}

bool Fail(FramingError* error, int status, std::string message) {
  error->status = status;
  error->message = std::move(message);
  return false;
}

// Methods cpp-httplib parses; others are answered 501 here (it would say 400).
bool KnownMethod(std::string_view m) {
  static constexpr std::string_view kMethods[] = {"GET",     "HEAD",  "POST",    "PUT",  "DELETE",
                                                  "OPTIONS", "PATCH", "CONNECT", "TRACE"};
  for (std::string_view k : kMethods) {
    if (m == k) return true;
  }
  return false;
}

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 64)) {
    out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  if (s.size() > 64) out += "…";
  return out;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const FrameInfo& CurrentFrame() { return t_frame; }

bool ParseRequestHead(std::string_view head, RequestHead* out, FramingError* error) {
  *out = RequestHead{};
  if (head.size() > limits::kMaxHeadBytes) {
    return Fail(error, 431,
                "request head larger than " + std::to_string(limits::kMaxHeadBytes) + " bytes");
  }
  // Lines end in CRLF; a CR or LF anywhere else is refused (a proxy might
  // take a bare LF for a line end where we would not).
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < head.size()) {
    const size_t lf = head.find('\n', pos);
    if (lf == std::string_view::npos || lf == pos || head[lf - 1] != '\r') {
      return Fail(error, 400, "request head lines must end in CRLF");
    }
    std::string_view line = head.substr(pos, lf - 1 - pos);
    if (line.find('\r') != std::string_view::npos) {
      return Fail(error, 400, "bare CR in the request head");
    }
    pos = lf + 1;
    if (line.empty()) break;  // the end of the head
    lines.push_back(line);
  }
  if (pos != head.size() || lines.empty()) {
    return Fail(error, 400, "malformed request head");
  }

  // request-line = method SP request-target SP HTTP-version
  const std::string_view rl = lines[0];
  if (rl.size() > limits::kMaxRequestLine) {
    return Fail(error, 414,
                "request line longer than " + std::to_string(limits::kMaxRequestLine) + " bytes");
  }
  const size_t sp1 = rl.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || rl.find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(error, 400, "malformed request line: expected METHOD TARGET HTTP/1.1");
  }
  const std::string_view method = rl.substr(0, sp1);
  const std::string_view target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = rl.substr(sp2 + 1);
  if (!IsToken(method)) return Fail(error, 400, "malformed request method");
  if (target.empty()) return Fail(error, 400, "empty request target");
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) return Fail(error, 400, "invalid character in the request target");
  }
  if (version.size() != 8 || version.compare(0, 5, "HTTP/") != 0 || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Fail(error, 400, "malformed HTTP version");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return Fail(
        error, 505,
        "HTTP version " + std::string(version.substr(5)) + " is not supported: use HTTP/1.1");
  }
  if (!KnownMethod(method)) {
    return Fail(error, 501, "method " + Printable(method) + " is not implemented");
  }
  out->method = std::string(method);
  out->target = std::string(target);
  out->minor_version = version[7] - '0';

  if (lines.size() - 1 > limits::kMaxHeaderFields) {
    return Fail(error, 431,
                "more than " + std::to_string(limits::kMaxHeaderFields) + " header fields");
  }
  int content_lengths = 0;
  int hosts = 0;
  std::string transfer_encoding;
  bool has_te = false;
  bool conn_close = false, conn_keep_alive = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.size() > limits::kMaxHeaderLine) {
      return Fail(error, 431,
                  "header field longer than " + std::to_string(limits::kMaxHeaderLine) + " bytes");
    }
    if (line.front() == ' ' || line.front() == '\t') {
      return Fail(error, 400, "obsolete line folding in the request head");
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Fail(error, 400, "header field without ':'");
    const std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) {
      return Fail(error, 400, "malformed header field name '" + Printable(name) + "'");
    }
    const std::string_view value = TrimBlanks(line.substr(colon + 1));
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return Fail(error, 400,
                    "control character (NUL, CR, LF, …) in header field " + std::string(name));
      }
    }
    if (IEquals(name, "Content-Length")) {
      if (++content_lengths > 1) return Fail(error, 400, "more than one Content-Length");
      if (value.empty()) return Fail(error, 400, "malformed Content-Length ''");
      for (char c : value) {
        if (c < '0' || c > '9') {
          return Fail(error, 400, "malformed Content-Length '" + Printable(value) + "'");
        }
      }
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      // Too large for 64 bits: certainly over every body limit (413).
      out->content_length = ec == std::errc() ? n : UINT64_MAX;
      out->framing = BodyFraming::kLength;
      continue;
    }
    if (IEquals(name, "Transfer-Encoding")) {
      if (has_te) transfer_encoding += ',';
      transfer_encoding += value;
      has_te = true;
      continue;
    }
    if (IEquals(name, "Content-Encoding")) {
      if (out->has_content_encoding) out->content_encoding += ", ";
      out->content_encoding += value;
      out->has_content_encoding = true;
      continue;
    }
    if (IEquals(name, "Host")) ++hosts;
    if (IEquals(name, "Connection")) {
      for (std::string_view opt : ListElements(value)) {
        if (IEquals(opt, "close")) conn_close = true;
        if (IEquals(opt, "keep-alive")) conn_keep_alive = true;
      }
    }
    out->fields.emplace_back(std::string(name), std::string(value));
  }

  if (out->minor_version == 1 && hosts != 1) {
    return Fail(error, 400, hosts == 0 ? "missing Host header" : "more than one Host header");
  }
  if (hosts > 1) return Fail(error, 400, "more than one Host header");
  if (has_te) {
    if (content_lengths > 0) {
      return Fail(error, 400, "both Content-Length and Transfer-Encoding: send only one");
    }
    if (out->minor_version == 0) {
      return Fail(error, 400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    const std::vector<std::string_view> codings = ListElements(transfer_encoding);
    if (codings.empty() || !IEquals(codings.back(), "chunked")) {
      return Fail(error, 400,
                  "Transfer-Encoding '" + Printable(transfer_encoding) +
                      "': the final coding must be chunked");
    }
    for (size_t i = 0; i + 1 < codings.size(); ++i) {
      if (IEquals(codings[i], "chunked")) {
        return Fail(error, 400, "Transfer-Encoding applies chunked more than once");
      }
      return Fail(error, 501,
                  "transfer coding '" + Printable(codings[i]) +
                      "' is not implemented: use Content-Encoding for compression");
    }
    out->framing = BodyFraming::kChunked;
  }
  if (out->framing == BodyFraming::kNone &&
      (out->method == "POST" || out->method == "PUT" || out->method == "PATCH")) {
    return Fail(error, 411, "a request with a body needs Content-Length or chunked encoding");
  }
  out->keep_alive = out->minor_version == 1 ? !conn_close : conn_keep_alive && !conn_close;
  return true;
}

std::string CanonicalHead(const RequestHead& head) {
  std::string s;
  s.reserve(256);
  s += head.method;
  s += ' ';
  s += head.target;
  s += head.minor_version == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  for (const auto& [name, value] : head.fields) {
    s += name;
    s += ": ";
    s += value;
    s += "\r\n";
  }
  if (head.framing == BodyFraming::kLength) {
    s += "Content-Length: ";
    s += std::to_string(head.content_length);
    s += "\r\n";
  }
  s += "\r\n";
  return s;
}

// --- ChunkedDecoder ----------------------------------------------------------

bool ChunkedDecoder::Fail(std::string why) {
  state_ = State::kFailed;
  error_ = "malformed chunked body: " + std::move(why);
  return false;
}

bool ChunkedDecoder::EndSizeLine() {
  // chunk-size [ chunk-ext ]: 1*HEXDIG, then optionally blanks and ";…".
  size_t i = 0;
  uint64_t size = 0;
  while (i < line_.size() && std::isxdigit(static_cast<unsigned char>(line_[i]))) {
    if (i >= 15) return Fail("chunk size too large");
    const char c = line_[i];
    size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    ++i;
  }
  if (i == 0) return Fail("chunk size '" + Printable(line_) + "' is not hexadecimal");
  size_t j = i;
  while (j < line_.size() && (line_[j] == ' ' || line_[j] == '\t')) ++j;
  if (j < line_.size() && line_[j] != ';') {
    return Fail("chunk size '" + Printable(line_) + "' is not hexadecimal");
  }
  if (j == line_.size() && j != i) return Fail("blanks after the chunk size");
  line_.clear();
  if (size == 0) {
    state_ = State::kTrailer;
  } else {
    remaining_ = size;
    state_ = State::kData;
  }
  return true;
}

bool ChunkedDecoder::EndTrailerLine() {
  if (line_.empty()) {
    state_ = State::kDone;
    return true;
  }
  if (line_.front() == ' ' || line_.front() == '\t' || line_.find(':') == std::string::npos ||
      !IsToken(std::string_view(line_).substr(0, line_.find(':')))) {
    return Fail("malformed trailer field");
  }
  line_.clear();  // trailer fields are read and dropped
  return true;
}

size_t ChunkedDecoder::Feed(const char* data, size_t n, std::string* out) {
  size_t i = 0;
  while (i < n && state_ != State::kDone && state_ != State::kFailed) {
    const char c = data[i];
    switch (state_) {
      case State::kSize:
      case State::kTrailer: {
        if (c == '\n') {
          if (line_.empty() || line_.back() != '\r') {
            Fail("lines must end in CRLF");
            break;
          }
          line_.pop_back();
          ++i;
          if (state_ == State::kSize) {
            EndSizeLine();
          } else {
            EndTrailerLine();
          }
          break;
        }
        if (!line_.empty() && line_.back() == '\r') {
          Fail("bare CR");
          break;
        }
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
          Fail("control character in a chunk or trailer line");
          break;
        }
        line_ += c;
        if (state_ == State::kSize && line_.size() > limits::kMaxChunkLine) {
          Fail("chunk size line too long");
        } else if (state_ == State::kTrailer && ++trailer_bytes_ > limits::kMaxTrailerBytes) {
          Fail("trailer fields larger than " + std::to_string(limits::kMaxTrailerBytes) + " bytes");
        }
        ++i;
        break;
      }
      case State::kData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        out->append(data + i, take);
        remaining_ -= take;
        i += take;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c != '\r') {
          Fail("chunk data longer than its size");
          break;
        }
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') {
          Fail("chunk data not followed by CRLF");
          break;
        }
        state_ = State::kSize;
        ++i;
        break;
      case State::kDone:
      case State::kFailed:
        break;
    }
  }
  return i;
}

// --- FramedStream ------------------------------------------------------------

std::string RefusalBytes(const FramingError& error) {
  const char* reason = "Bad Request";
  switch (error.status) {
    case 411:
      reason = "Length Required";
      break;
    case 413:
      reason = "Payload Too Large";
      break;
    case 414:
      reason = "URI Too Long";
      break;
    case 431:
      reason = "Request Header Fields Too Large";
      break;
    case 501:
      reason = "Not Implemented";
      break;
    case 505:
      reason = "HTTP Version Not Supported";
      break;
    default:
      break;
  }
  std::string body = "{\"error\":";
  AppendJsonString(&body, error.message);
  body += "}\n";
  return "HTTP/1.1 " + std::to_string(error.status) + " " + reason +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

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
  const int64_t start = NowMs();
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
    const int64_t wait = buffered.empty() ? idle_timeout_ms - (NowMs() - start) : read_timeout_ms_;
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
