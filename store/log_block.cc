#include "store/log_block.h"

#include <cstring>

namespace sink {
namespace {

constexpr char kFormat = 1;
// Decoded blocks are bounded: a block holds at most this many bytes of
// records (the writer keeps them far smaller).
constexpr size_t kMaxBlockBytes = 256u << 20;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }
// Difference without signed overflow (wraps; UnDelta undoes it exactly).
int64_t Delta(int64_t v, int64_t prev) {
  return static_cast<int64_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(prev));
}
int64_t UnDelta(int64_t d, int64_t prev) {
  return static_cast<int64_t>(static_cast<uint64_t>(prev) + static_cast<uint64_t>(d));
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= s_.size()) return false;
      const auto b = static_cast<unsigned char>(s_[pos_++]);
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  bool Byte(unsigned char* b) {
    if (pos_ >= s_.size()) return false;
    *b = static_cast<unsigned char>(s_[pos_++]);
    return true;
  }
  bool Fixed64(int64_t* v) {
    if (s_.size() - pos_ < 8) return false;
    uint64_t u;
    std::memcpy(&u, s_.data() + pos_, 8);
    pos_ += 8;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Text(std::string* out) {
    uint64_t n;
    if (!Varint(&n) || n > s_.size() - pos_) return false;
    out->assign(s_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

void PutText(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

// An optional column: one presence byte per record, then the values present.
template <typename T, typename Put>
void PutOptional(std::string* out, const std::vector<LogRecord>& rs,
                 const std::optional<T> LogRecord::*m, Put put) {
  for (const LogRecord& r : rs) out->push_back((r.*m).has_value() ? 1 : 0);
  for (const LogRecord& r : rs) {
    if ((r.*m).has_value()) put(*(r.*m));
  }
}

}  // namespace

Result<std::string> EncodeLogBlock(const std::vector<LogRecord>& rs, int level,
                                   const ZstdDict* dict) {
  if (rs.empty()) return Status::Internal("an empty log block");
  std::string raw;
  raw.push_back(kFormat);
  PutVarint(&raw, rs.size());
  int64_t prev = 0;
  for (const LogRecord& r : rs) {
    PutVarint(&raw, ZigZag(Delta(r.seq, prev)));
    prev = r.seq;
  }
  prev = 0;
  for (const LogRecord& r : rs) {
    PutVarint(&raw, ZigZag(Delta(r.received_at, prev)));
    prev = r.received_at;
  }
  int64_t prev_opt = 0;
  auto put_int = [&](int64_t v) {
    PutVarint(&raw, ZigZag(Delta(v, prev_opt)));
    prev_opt = v;
  };
  PutOptional(&raw, rs, &LogRecord::utc_ms, put_int);
  prev_opt = 0;
  PutOptional(&raw, rs, &LogRecord::event_id, put_int);
  auto put_text = [&](const std::string& s) { PutText(&raw, s); };
  PutOptional(&raw, rs, &LogRecord::server, put_text);
  for (const LogRecord& r : rs) PutText(&raw, r.event);
  PutOptional(&raw, rs, &LogRecord::kind, put_text);
  PutOptional(&raw, rs, &LogRecord::phase, put_text);
  PutOptional(&raw, rs, &LogRecord::session_id, put_text);
  PutOptional(&raw, rs, &LogRecord::platform, put_text);
  for (const LogRecord& r : rs) {
    const auto u = static_cast<uint64_t>(r.dedup);
    char b[8];
    std::memcpy(b, &u, 8);
    raw.append(b, 8);
  }
  for (const LogRecord& r : rs) PutText(&raw, r.body);
  return ZstdCompress(raw, level, dict);
}

Result<std::vector<LogRecord>> DecodeLogBlock(std::string_view block, const ZstdDict* dict) {
  Result<std::string> raw = ZstdDecompress(block, kMaxBlockBytes, dict);
  if (!raw.ok()) return raw.status();
  const Status bad = Status::Invalid("a damaged log block");
  Reader in(raw.value());
  unsigned char format;
  uint64_t n;
  if (!in.Byte(&format) || format != kFormat || !in.Varint(&n) || n == 0 ||
      n > raw.value().size()) {
    return bad;
  }
  std::vector<LogRecord> rs(n);
  int64_t prev = 0;
  for (LogRecord& r : rs) {
    uint64_t v;
    if (!in.Varint(&v)) return bad;
    r.seq = prev = UnDelta(UnZigZag(v), prev);
  }
  prev = 0;
  for (LogRecord& r : rs) {
    uint64_t v;
    if (!in.Varint(&v)) return bad;
    r.received_at = prev = UnDelta(UnZigZag(v), prev);
  }
  // Presence bytes, then the values present, for one optional column.
  auto optional = [&](auto member, auto read) {
    std::vector<unsigned char> present(n);
    for (unsigned char& p : present) {
      if (!in.Byte(&p) || p > 1) return false;
    }
    for (size_t i = 0; i < n; ++i) {
      if (present[i] && !read(&(rs[i].*member).emplace())) return false;
    }
    return true;
  };
  int64_t prev_opt = 0;
  auto read_int = [&](int64_t* out) {
    uint64_t v;
    if (!in.Varint(&v)) return false;
    *out = prev_opt = UnDelta(UnZigZag(v), prev_opt);
    return true;
  };
  auto read_text = [&](std::string* out) { return in.Text(out); };
  if (!optional(&LogRecord::utc_ms, read_int)) return bad;
  prev_opt = 0;
  if (!optional(&LogRecord::event_id, read_int)) return bad;
  if (!optional(&LogRecord::server, read_text)) return bad;
  for (LogRecord& r : rs) {
    if (!in.Text(&r.event)) return bad;
  }
  if (!optional(&LogRecord::kind, read_text) || !optional(&LogRecord::phase, read_text) ||
      !optional(&LogRecord::session_id, read_text) || !optional(&LogRecord::platform, read_text)) {
    return bad;
  }
  for (LogRecord& r : rs) {
    if (!in.Fixed64(&r.dedup)) return bad;
  }
  for (LogRecord& r : rs) {
    if (!in.Text(&r.body)) return bad;
  }
  if (!in.done()) return bad;
  return rs;
}

}  // namespace sink
