// Strict HTTP/1.1 request framing in front of cpp-httplib.
//
// cpp-httplib 0.11.4 (the one Debian 12 packages) frames requests leniently:
// it takes the first of two Content-Length fields, reads "12abc" as 12,
// prefers Transfer-Encoding over a Content-Length present with it, reads a
// POST without either until the connection closes, skips header lines it
// cannot parse, accepts chunk sizes such as " 7b" or "0x7b", drops the bytes
// of pipelined requests with each request's read buffer, and refuses to
// answer a client that half-closed. Behind a proxy that frames the bytes
// differently, that lets one client's bytes become another's request.
//
// This layer reads every request head itself, from the socket the sink owns
// (GuardedServer::process_and_close_socket), and decides the framing by
// RFC 9112 before cpp-httplib sees anything:
//
//  - ParseRequestHead() checks the request line and every field and answers
//    what the message's body is (none, N bytes, chunked) or why the request
//    is refused (400, 411, 414, 431, 501, 505);
//  - ChunkedDecoder checks a chunked body as it arrives (strict hex sizes,
//    CRLF after each chunk, bounded extensions and trailers);
//  - FramedStream hands cpp-httplib exactly one request: a rewritten head
//    (the framing fields replaced by one canonical Content-Length, or none
//    for a chunked body, which it decodes and ends with end-of-stream), then
//    the body, then end-of-stream; the bytes of the next request stay in its
//    buffer for the next round. It writes answers without cpp-httplib's
//    liveness probe, so a half-closed client gets its answer.
//
// Content-Encoding is taken out of the head too (cpp-httplib would decode
// gzip itself and treat unknown codings as identity): the handler decodes
// the body (ingest/body_decoder.h), and keeps the bytes as received when
// they cannot be decoded.
//
// Thread-safety: the functions are pure; a FramedStream belongs to the
// thread serving its connection. CurrentFrame() is that thread's request.
#pragma once

#include <httplib.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sink {

// What a request's framing says about its body.
enum class BodyFraming { kNone, kLength, kChunked };

struct RequestHead {
  std::string method;
  std::string target;
  int minor_version = 1;  // HTTP/1.<minor>
  // Every field except Content-Length, Transfer-Encoding and
  // Content-Encoding, in order; names as sent, values without surrounding
  // blanks.
  std::vector<std::pair<std::string, std::string>> fields;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;   // kLength only
  bool keep_alive = true;        // false: close after answering
  std::string content_encoding;  // as sent, blanks trimmed; empty when absent
  bool has_content_encoding = false;
};

struct FramingError {
  int status = 400;
  std::string message;
};

// Parses a request head: the request line and the fields, each ending in
// CRLF, and the empty line (`head` includes the final CRLF CRLF).
// Leading empty lines must have been skipped. True on success; otherwise
// `error` says the answer.
bool ParseRequestHead(std::string_view head, RequestHead* out, FramingError* error);

// The head handed to cpp-httplib: the request line and fields of `head`,
// plus "Content-Length: N" for a body of known length.
std::string CanonicalHead(const RequestHead& head);

// A chunked body, checked as it arrives. Feed() consumes input and appends
// the chunk data to `out`; it returns the bytes it consumed, which are fewer
// than given only when the body ended (done()) or failed (error()).
class ChunkedDecoder {
 public:
  size_t Feed(const char* data, size_t n, std::string* out);
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  const std::string& error() const { return error_; }

 private:
  enum class State { kSize, kData, kDataCr, kDataLf, kTrailer, kDone, kFailed };
  bool Fail(std::string why);
  bool EndSizeLine();
  bool EndTrailerLine();

  State state_ = State::kSize;
  std::string line_;        // the current size or trailer line, without CRLF
  uint64_t remaining_ = 0;  // of the current chunk's data
  size_t trailer_bytes_ = 0;
  std::string error_;
};

// Facts about the request the current thread is serving, for the handlers:
// what the framing layer took out of the head, and whether the answer must
// close the connection.
struct FrameInfo {
  bool active = false;  // false outside a framed request (unit tests, cpp-httplib alone)
  std::string content_encoding;
  bool has_content_encoding = false;
  bool chunked = false;
  std::string body_error;   // why the body could not be read (malformed chunks)
  uint64_t wire_bytes = 0;  // body bytes received so far, as sent
};
const FrameInfo& CurrentFrame();

// One connection's bytes, as cpp-httplib's Stream, over the socket or, when
// `ssl` is given, over its TLS session (which must be established and
// stays owned by the caller). Not thread-safe.
class FramedStream : public httplib::Stream {
 public:
  FramedStream(int sock, int64_t read_timeout_ms, int64_t write_timeout_ms, SSL* ssl = nullptr);
  ~FramedStream() override;

  enum class Next { kRequest, kClosed, kRefused };
  // Waits up to `idle_timeout_ms` for the next request and reads its head.
  // kRequest: `head` is set and the stream serves it to cpp-httplib.
  // kClosed: the client closed or went idle (nothing to answer).
  // kRefused: the head is invalid; `error` holds the answer to send.
  Next ReadRequest(int64_t idle_timeout_ms, RequestHead* head, FramingError* error);
  // True when the current request's body was read to its end.
  bool BodyComplete() const;
  // True once the client closed its side (nothing more will arrive).
  bool PeerClosed() const { return peer_closed_; }
  // Writes a complete answer of the framing layer (Connection: close).
  void WriteRefusal(const FramingError& error);
  // Ends the request: the next ReadRequest starts after it.
  void EndRequest();

  // httplib::Stream
  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return sock_; }

 private:
  // Reads more bytes from the socket into in_; false on end or error.
  bool Fill(int64_t timeout_ms);
  // Waits until a read would not block; false on timeout.
  bool WaitReadable(int64_t timeout_ms) const;
  // One read or write on the connection (TLS or not), as recv/send answer.
  ssize_t RecvSome(char* buf, size_t n);
  // RecvSome once readable within `timeout_ms`; kTimedOut if it is not.
  static constexpr ssize_t kTimedOut = -2;
  ssize_t RecvWithin(char* buf, size_t n, int64_t timeout_ms);
  ssize_t SendSome(const char* buf, size_t n);
  ssize_t ReadBody(char* ptr, size_t size);

  const int sock_;
  SSL* const ssl_;
  const int64_t read_timeout_ms_;
  const int64_t write_timeout_ms_;
  std::string in_;     // received, not yet consumed
  size_t in_pos_ = 0;  // first unconsumed byte of in_
  bool peer_closed_ = false;
  bool read_error_ = false;

  // The current request as served to cpp-httplib.
  std::string head_out_;
  size_t head_pos_ = 0;
  BodyFraming framing_ = BodyFraming::kNone;
  uint64_t body_left_ = 0;  // kLength: bytes still to read
  ChunkedDecoder chunked_;
  std::string decoded_;  // kChunked: decoded, not yet handed over
  size_t decoded_pos_ = 0;
  bool body_failed_ = false;
};

// The answer line and JSON body for a refusal: "HTTP/1.1 400 Bad Request…".
std::string RefusalBytes(const FramingError& error);

}  // namespace sink
