// BodyDecoder: undoes a request's Content-Encoding as the body arrives.
//
// The framing layer (server/http_framing.h) takes Content-Encoding out of
// the head, so cpp-httplib never decodes; this does, with a bound on the
// decoded size, so that the handler can refuse an unknown coding with 415
// and keep the bytes as received when they cannot be decoded.
//
// Codings: none or `identity` (the bytes as they are), `gzip` (also
// `x-gzip`), `deflate` (zlib format, or raw deflate as some clients send);
// names compared case-insensitively. Anything else, or more than one coding
// applied, is unsupported (415). Not thread-safe: one per request.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sink {

class BodyDecoder {
 public:
  // The decoder for a Content-Encoding value; null when the coding is not
  // supported (`*unsupported` then names it).
  static std::unique_ptr<BodyDecoder> For(std::string_view content_encoding,
                                          std::string* unsupported);
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  enum class Result { kOk, kTooLarge, kCorrupt };
  // Decodes `n` bytes, appending to `out`, which may not grow past `limit`.
  Result Feed(const char* data, size_t n, std::string* out, uint64_t limit);
  // After the last byte: kCorrupt when a compressed stream is unfinished.
  Result Finish() const;
  bool identity() const { return kind_ == Kind::kIdentity; }

 private:
  enum class Kind { kIdentity, kGzip, kDeflate };
  explicit BodyDecoder(Kind kind) : kind_(kind) {}
  Result Inflate(const char* data, size_t n, std::string* out, uint64_t limit);

  const Kind kind_;
  z_stream z_{};
  bool started_ = false;  // inflateInit2 done
  bool ended_ = false;    // the last stream member ended
  bool raw_ = false;      // deflate without the zlib wrapper
};

}  // namespace sink
