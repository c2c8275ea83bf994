// Runs fuzz inputs through LLVMFuzzerTestOneInput without libFuzzer: every
// regular file under the directories given (recursively), and files given
// by name. The fuzz target traps on a violated invariant, so a zero exit
// means every input passed.
//   body_fuzz_replay tests/fuzz/corpus [more dirs or files...]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    if (fs::is_directory(argv[i], ec)) {
      for (const auto& entry : fs::recursive_directory_iterator(argv[i], ec)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (fs::is_regular_file(argv[i], ec)) {
      files.emplace_back(argv[i]);
    }
    if (ec) {
      std::fprintf(stderr, "%s: %s\n", argv[i], ec.message().c_str());
      return 2;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "no input files\n");
    return 2;
  }
  std::sort(files.begin(), files.end());
  size_t bytes = 0;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> buf((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "%s: cannot read\n", f.c_str());
      return 2;
    }
    // Named before it runs, so a trap points at its input.
    std::printf("%s (%zu bytes)\n", f.c_str(), buf.size());
    std::fflush(stdout);
    // A copy of exactly the file's size: reads past the end are out of bounds.
    std::vector<uint8_t> data(buf.begin(), buf.end());
    LLVMFuzzerTestOneInput(data.data(), data.size());
    bytes += buf.size();
  }
  std::printf("replayed %zu inputs, %zu bytes: all invariants hold\n", files.size(), bytes);
  return 0;
}
