// zstd compression for stored event bodies: plain frames, and frames made
// with a dictionary trained on the sink's own traffic.
//
// A dictionary helps small inputs most (one 300-byte event body): zstd's
// authors and the figures in docs/performance.md. Frames carry the
// dictionary's id, so a reader that holds several dictionaries picks the
// right one (DictIdOf).
//
// Thread-safety: a ZstdDict is immutable after Train/Load and may be shared
// by threads; the free functions keep their contexts per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"

namespace sink {

class ZstdDict {
 public:
  // Trains a dictionary of at most `capacity` bytes on `samples` (zstd
  // suggests ~100 samples per dictionary byte's worth of data; a few
  // thousand event bodies are enough for 64 KiB). kInvalid when the samples
  // are too few or too alike to train on.
  static Result<std::shared_ptr<const ZstdDict>> Train(const std::vector<std::string>& samples,
                                                       size_t capacity, int level);
  // A dictionary from its bytes (as stored).
  static Result<std::shared_ptr<const ZstdDict>> Load(std::string bytes, int level);
  ~ZstdDict();
  ZstdDict(const ZstdDict&) = delete;
  ZstdDict& operator=(const ZstdDict&) = delete;

  uint32_t id() const { return id_; }
  const std::string& bytes() const { return bytes_; }

 private:
  ZstdDict() = default;
  friend Result<std::string> ZstdCompress(std::string_view, int, const ZstdDict*);
  friend Result<std::string> ZstdDecompress(std::string_view, size_t, const ZstdDict*);
  std::string bytes_;
  uint32_t id_ = 0;
  struct Handles;
  std::unique_ptr<Handles> h_;
};

// One zstd frame of `in` at `level`, with `dict` when given.
Result<std::string> ZstdCompress(std::string_view in, int level, const ZstdDict* dict = nullptr);
// The content of one frame. kInvalid when it is not a frame, is damaged,
// needs a dictionary other than `dict`, or would exceed `max_bytes`.
Result<std::string> ZstdDecompress(std::string_view frame, size_t max_bytes,
                                   const ZstdDict* dict = nullptr);
// The dictionary id a frame was made with (0: none or unknown).
uint32_t DictIdOf(std::string_view frame);

}  // namespace sink
