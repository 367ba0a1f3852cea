// Standalone main for the regression replay tests: built with the normal
// compiler (gcc) and linked with one fuzz target's LLVMFuzzerTestOneInput,
// it runs that entry point once over every file under the given directories
// (the seed corpus and fuzz/regressions/<target>/), so the debug and
// sanitizer suites re-check every seed and every past finding.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path p(argv[i]);
    if (fs::is_regular_file(p)) {
      files.push_back(p);
    } else if (fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    }
    // A missing directory is fine: fuzz/regressions/<target> exists only
    // once that target has had a finding.
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no inputs found: is the corpus directory right?\n");
    return 1;
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // A copy in its own allocation, so ASan sees reads past the end.
    std::vector<std::uint8_t> buf(bytes.begin(), bytes.end());
    std::fprintf(stderr, "replay %s (%zu bytes)\n", f.c_str(), buf.size());
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
