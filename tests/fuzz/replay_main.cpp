// The main of a fuzz target in the ordinary build: instead of libFuzzer, it
// feeds every file of the corpus directories (or the files) it is given to
// the target once. ctest runs it on the target's corpus, so every seed and
// every input that once crashed stays a regression test.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

/// The regular files of `path` (a directory, in name order), or `path`.
std::vector<fs::path> inputs_of(const fs::path& path) {
  std::vector<fs::path> out;
  if (!fs::is_directory(path)) {
    out.push_back(path);
    return out;
  }
  for (const auto& entry : fs::directory_iterator(path))
    if (entry.is_regular_file())
      out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s CORPUS_DIR_OR_FILE...\n"
                 "runs the fuzz target once on every input\n",
                 argv[0]);
    return 2;
  }
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    if (!fs::exists(argv[i], ec)) {
      std::fprintf(stderr, "%s: no such file or directory\n", argv[i]);
      return 2;
    }
    for (const auto& file : inputs_of(argv[i])) {
      std::ifstream in(file, std::ios::binary);
      std::vector<char> bytes{std::istreambuf_iterator<char>(in),
                              std::istreambuf_iterator<char>()};
      if (!in.good() && !in.eof()) {
        std::fprintf(stderr, "%s: cannot be read\n", file.c_str());
        return 2;
      }
      // Named before it runs: a crash leaves the input's name last.
      std::fprintf(stderr, "replaying %s (%zu bytes)\n", file.c_str(),
                   bytes.size());
      try {
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                               bytes.size());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: the target let an exception out: %s\n",
                     file.c_str(), e.what());
        return 1;
      } catch (...) {
        std::fprintf(stderr, "%s: the target let an exception out\n",
                     file.c_str());
        return 1;
      }
      ++replayed;
    }
  }
  if (replayed == 0) {
    std::fprintf(stderr, "no inputs found: an empty corpus tests nothing\n");
    return 1;
  }
  std::fprintf(stderr, "%zu inputs replayed, none failed\n", replayed);
  return 0;
}
