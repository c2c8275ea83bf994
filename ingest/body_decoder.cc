#include "ingest/body_decoder.h"

#include <algorithm>
#include <cctype>

namespace sink {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::unique_ptr<BodyDecoder> BodyDecoder::For(std::string_view content_encoding,
                                              std::string* unsupported) {
  // A list of codings, applied in order; identity elements change nothing.
  Kind kind = Kind::kIdentity;
  int applied = 0;
  size_t pos = 0;
  while (pos <= content_encoding.size()) {
    size_t comma = content_encoding.find(',', pos);
    if (comma == std::string_view::npos) comma = content_encoding.size();
    std::string_view e = content_encoding.substr(pos, comma - pos);
    while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
    while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
    pos = comma + 1;
    if (e.empty()) continue;
    const std::string name = Lower(e);
    if (name == "identity") continue;
    if (name == "gzip" || name == "x-gzip") {
      kind = Kind::kGzip;
    } else if (name == "deflate") {
      kind = Kind::kDeflate;
    } else {
      *unsupported = std::string(e);
      return nullptr;
    }
    if (++applied > 1) {
      *unsupported = std::string(content_encoding);
      return nullptr;
    }
  }
  return std::unique_ptr<BodyDecoder>(new BodyDecoder(kind));
}

BodyDecoder::~BodyDecoder() {
  if (started_) inflateEnd(&z_);
}

BodyDecoder::Result BodyDecoder::Feed(const char* data, size_t n, std::string* out,
                                      uint64_t limit) {
  if (kind_ == Kind::kIdentity) {
    if (out->size() + n > limit) return Result::kTooLarge;
    out->append(data, n);
    return Result::kOk;
  }
  return Inflate(data, n, out, limit);
}

BodyDecoder::Result BodyDecoder::Inflate(const char* data, size_t n, std::string* out,
                                         uint64_t limit) {
  while (n > 0) {
    if (!started_ || ended_) {
      if (ended_) {
        // Another gzip member may follow (RFC 1952); anything else is corrupt.
        if (kind_ != Kind::kGzip) return Result::kCorrupt;
        inflateEnd(&z_);
        started_ = false;
        ended_ = false;
      }
      z_ = z_stream{};
      int bits = 15 + 16;  // gzip
      if (kind_ == Kind::kDeflate) {
        // RFC 9110's deflate is the zlib format; a first byte that is not a
        // zlib header (CM = 8 and a valid check) means raw deflate.
        const auto b0 = static_cast<unsigned char>(data[0]);
        raw_ = n < 2 || (b0 & 0x0f) != 8 ||
               ((b0 << 8) | static_cast<unsigned char>(data[1])) % 31 != 0;
        bits = raw_ ? -15 : 15;
      }
      if (inflateInit2(&z_, bits) != Z_OK) return Result::kCorrupt;
      started_ = true;
    }
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z_.avail_in = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    const size_t fed = z_.avail_in;
    int ret = Z_OK;
    do {
      char buf[16384];
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      ret = inflate(&z_, Z_NO_FLUSH);
      if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) return Result::kCorrupt;
      const size_t got = sizeof buf - z_.avail_out;
      if (out->size() + got > limit) return Result::kTooLarge;
      out->append(buf, got);
      if (ret == Z_BUF_ERROR && z_.avail_in == 0) break;
      if (ret == Z_BUF_ERROR && got == 0) return Result::kCorrupt;
    } while (ret != Z_STREAM_END && (z_.avail_in > 0 || z_.avail_out == 0));
    const size_t used = fed - z_.avail_in;
    data += used;
    n -= used;
    if (ret == Z_STREAM_END) ended_ = true;
  }
  return Result::kOk;
}

BodyDecoder::Result BodyDecoder::Finish() const {
  if (kind_ == Kind::kIdentity) return Result::kOk;
  return ended_ ? Result::kOk : Result::kCorrupt;
}

}  // namespace sink
