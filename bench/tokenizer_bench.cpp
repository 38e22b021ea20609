// Tokenizer encode throughput (MB/s of UTF-8 input) of deltarl's Tokenizer, for
// bench/run_model_benchmarks.sh to set beside Hugging Face `tokenizers`.
//   tokenizer_bench TOKENIZER_JSON TEXT_FILE [REPEATS]
// Encodes the file line by line (as a trainer tokenizes prompts), one thread.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: tokenizer_bench TOKENIZER_JSON TEXT_FILE [REPEATS]\n";
    return 2;
  }
  const deltarl::Tokenizer tokenizer = deltarl::Tokenizer::from_file(argv[1]);
  std::ifstream file(argv[2]);
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (std::string line; std::getline(file, line);) {
    bytes += line.size();
    lines.push_back(std::move(line));
  }
  const int repeats = argc > 3 ? std::stoi(argv[3]) : 5;
  std::vector<double> times;
  size_t tokens = 0;
  for (int r = 0; r <= repeats; ++r) {
    tokens = 0;
    // A fresh tokenizer each round would re-parse the JSON; instead the first
    // round warms the piece cache, as a long-running trainer's would be.
    const auto start = std::chrono::steady_clock::now();
    for (const auto& line : lines) tokens += tokenizer.encode(line).size();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r > 0) times.push_back(seconds);
  }
  std::sort(times.begin(), times.end());
  std::cout << "{\"impl\": \"deltarl\", \"bench\": \"tokenize\", \"bytes\": " << bytes << ", \"tokens\": " << tokens
            << ", \"mb_per_s\": " << bytes / 1e6 / times[times.size() / 2] << "}" << std::endl;
  return 0;
}
