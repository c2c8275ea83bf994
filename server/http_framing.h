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
// The parsing here is pure (no I/O: what the fuzzer drives); FramedStream,
// which does the socket and TLS I/O, is in server/framed_stream.h.
// Thread-safety: the functions are pure.
#pragma once

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

// The answer line and JSON body for a refusal: "HTTP/1.1 400 Bad Request…".
std::string RefusalBytes(const FramingError& error);

}  // namespace sink
