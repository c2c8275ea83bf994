#include "server/http_framing.h"

#include <cctype>
#include <charconv>
#include <cstring>
#include <span>

#include "store/json_text.h"
#include "store/limits.h"

namespace sink {

namespace {

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

// The lines of a head, each without its CRLF, up to the empty line.
bool SplitHeadLines(std::string_view head, std::vector<std::string_view>* lines,
                    FramingError* error) {
  // Lines end in CRLF; a CR or LF anywhere else is refused (a proxy might
  // take a bare LF for a line end where we would not).
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
    lines->push_back(line);
  }
  if (pos != head.size() || lines->empty()) {
    return Fail(error, 400, "malformed request head");
  }
  return true;
}

// request-line = method SP request-target SP HTTP-version
bool ParseRequestLine(std::string_view rl, RequestHead* out, FramingError* error) {
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
  return true;
}

// What the fields say about the framing, gathered while reading them.
struct FramingFields {
  int content_lengths = 0;
  int hosts = 0;
  std::string transfer_encoding;
  bool has_te = false;
  bool conn_close = false, conn_keep_alive = false;
};

// Checks each field line; the framing fields go to `f` (and Content-Length
// and Content-Encoding into `out`), the others into out->fields.
bool ParseFields(std::span<const std::string_view> lines, RequestHead* out, FramingFields* f,
                 FramingError* error) {
  for (size_t i = 0; i < lines.size(); ++i) {
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
      if (++f->content_lengths > 1) return Fail(error, 400, "more than one Content-Length");
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
      if (f->has_te) f->transfer_encoding += ',';
      f->transfer_encoding += value;
      f->has_te = true;
      continue;
    }
    if (IEquals(name, "Content-Encoding")) {
      if (out->has_content_encoding) out->content_encoding += ", ";
      out->content_encoding += value;
      out->has_content_encoding = true;
      continue;
    }
    if (IEquals(name, "Host")) ++f->hosts;
    if (IEquals(name, "Connection")) {
      for (std::string_view opt : ListElements(value)) {
        if (IEquals(opt, "close")) f->conn_close = true;
        if (IEquals(opt, "keep-alive")) f->conn_keep_alive = true;
      }
    }
    out->fields.emplace_back(std::string(name), std::string(value));
  }
  return true;
}

// The body's framing (RFC 9112 §6) and whether the connection stays open.
bool DecideFraming(const FramingFields& f, RequestHead* out, FramingError* error) {
  if (out->minor_version == 1 && f.hosts != 1) {
    return Fail(error, 400, f.hosts == 0 ? "missing Host header" : "more than one Host header");
  }
  if (f.hosts > 1) return Fail(error, 400, "more than one Host header");
  if (f.has_te) {
    if (f.content_lengths > 0) {
      return Fail(error, 400, "both Content-Length and Transfer-Encoding: send only one");
    }
    if (out->minor_version == 0) {
      return Fail(error, 400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    const std::vector<std::string_view> codings = ListElements(f.transfer_encoding);
    if (codings.empty() || !IEquals(codings.back(), "chunked")) {
      return Fail(error, 400,
                  "Transfer-Encoding '" + Printable(f.transfer_encoding) +
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
  out->keep_alive = out->minor_version == 1 ? !f.conn_close : f.conn_keep_alive && !f.conn_close;
  return true;
}

}  // namespace

bool ParseRequestHead(std::string_view head, RequestHead* out, FramingError* error) {
  *out = RequestHead{};
  if (head.size() > limits::kMaxHeadBytes) {
    return Fail(error, 431,
                "request head larger than " + std::to_string(limits::kMaxHeadBytes) + " bytes");
  }
  std::vector<std::string_view> lines;
  if (!SplitHeadLines(head, &lines, error)) return false;
  if (!ParseRequestLine(lines[0], out, error)) return false;
  if (lines.size() - 1 > limits::kMaxHeaderFields) {
    return Fail(error, 431,
                "more than " + std::to_string(limits::kMaxHeaderFields) + " header fields");
  }
  FramingFields f;
  if (!ParseFields(std::span(lines).subspan(1), out, &f, error)) return false;
  return DecideFraming(f, out, error);
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

// --- Refusals ----------------------------------------------------------------

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

}  // namespace sink
