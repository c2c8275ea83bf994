// FramedStream: one connection's bytes, read and written by the sink itself
// (over the socket, or its TLS session), handed to cpp-httplib one strictly
// framed request at a time. The framing decisions are http_framing.h's pure
// functions; this is their I/O. See http_framing.h for why.
//
// Thread-safety: a FramedStream belongs to the thread serving its
// connection. CurrentFrame() is that thread's request.
#pragma once

#include <httplib.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <string>

#include "server/http_framing.h"

namespace sink {

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

}  // namespace sink
