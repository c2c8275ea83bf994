#include "store/zstd_codec.h"

#include <zdict.h>
#include <zstd.h>

namespace sink {

struct ZstdDict::Handles {
  ZSTD_CDict* c = nullptr;
  ZSTD_DDict* d = nullptr;
  ~Handles() {
    ZSTD_freeCDict(c);
    ZSTD_freeDDict(d);
  }
};

namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// One context of each kind per thread: creating them costs more than
// compressing a body.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> c(ZSTD_createCCtx());
  return c.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> d(ZSTD_createDCtx());
  return d.get();
}

}  // namespace

ZstdDict::~ZstdDict() = default;

Result<std::shared_ptr<const ZstdDict>> ZstdDict::Load(std::string bytes, int level) {
  const unsigned id = ZDICT_getDictID(bytes.data(), bytes.size());
  if (id == 0) return Status::Invalid("not a zstd dictionary");
  std::shared_ptr<ZstdDict> d(new ZstdDict());
  d->bytes_ = std::move(bytes);
  d->id_ = id;
  d->h_ = std::make_unique<Handles>();
  d->h_->c = ZSTD_createCDict(d->bytes_.data(), d->bytes_.size(), level);
  d->h_->d = ZSTD_createDDict(d->bytes_.data(), d->bytes_.size());
  if (d->h_->c == nullptr || d->h_->d == nullptr) {
    return Status::Internal("zstd could not load a dictionary");
  }
  return std::shared_ptr<const ZstdDict>(std::move(d));
}

Result<std::shared_ptr<const ZstdDict>> ZstdDict::Train(const std::vector<std::string>& samples,
                                                        size_t capacity, int level) {
  std::string all;
  std::vector<size_t> sizes;
  sizes.reserve(samples.size());
  for (const std::string& s : samples) {
    all += s;
    sizes.push_back(s.size());
  }
  std::string dict(capacity, '\0');
  const size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), all.data(), sizes.data(),
                                         static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) {
    return Status::Invalid(std::string("cannot train a zstd dictionary: ") + ZDICT_getErrorName(n));
  }
  dict.resize(n);
  return Load(std::move(dict), level);
}

Result<std::string> ZstdCompress(std::string_view in, int level, const ZstdDict* dict) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  ZSTD_CCtx* c = ThreadCCtx();
  const size_t n =
      dict != nullptr
          ? ZSTD_compress_usingCDict(c, out.data(), out.size(), in.data(), in.size(), dict->h_->c)
          : ZSTD_compressCCtx(c, out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

Result<std::string> ZstdDecompress(std::string_view frame, size_t max_bytes, const ZstdDict* dict) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return Status::Invalid("not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size > max_bytes) {
    return Status::Invalid("zstd frame larger than " + std::to_string(max_bytes) + " bytes");
  }
  const unsigned want = ZSTD_getDictID_fromFrame(frame.data(), frame.size());
  if (want != 0 && (dict == nullptr || dict->id() != want)) {
    return Status::Invalid("zstd frame needs dictionary " + std::to_string(want));
  }
  std::string out(static_cast<size_t>(size), '\0');
  ZSTD_DCtx* d = ThreadDCtx();
  const size_t n = dict != nullptr && want != 0
                       ? ZSTD_decompress_usingDDict(d, out.data(), out.size(), frame.data(),
                                                    frame.size(), dict->h_->d)
                       : ZSTD_decompressDCtx(d, out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) return Status::Invalid(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

uint32_t DictIdOf(std::string_view frame) {
  return ZSTD_getDictID_fromFrame(frame.data(), frame.size());
}

}  // namespace sink
