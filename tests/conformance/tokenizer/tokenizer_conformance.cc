// Djinn's tokenizers against HF tokenizers on the conformance corpus: for
// every string and every tokenizer, Encode(text, false) and Encode(text,
// true) must equal the reference's ids, and Decode(Encode(text, true)) the
// reference's decode(ids, skip_special_tokens=True). Strings are split over
// threads (Encode is called from several threads in the daemon too).
//
//   tokenizer_conformance CORPUS.json NAME=TOKENIZER_DIR=REFERENCE.json...
//
// Prints the first mismatches of each tokenizer and, last, "N passed, N
// failed" (one case = one string of one tokenizer); exits 1 on any failure.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/tokenizer.h"
#include "nlohmann/json.hpp"

namespace {

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    std::exit(2);
  }
  std::stringstream bytes;
  bytes << in.rdbuf();
  nlohmann::json json = nlohmann::json::parse(bytes.str(), nullptr, false);
  if (json.is_discarded()) {
    std::cerr << path << " is not JSON\n";
    std::exit(2);
  }
  return json;
}

std::string Escaped(const std::string& text) {
  std::string shown = nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return shown.size() > 300 ? shown.substr(0, 300) + "...(" + std::to_string(text.size()) + " bytes)" : shown;
}

std::string Ids(const std::vector<int32_t>& ids) {
  std::string s = "[" + absl::StrJoin(ids.begin(), ids.begin() + std::min<size_t>(ids.size(), 40), ",");
  return s + (ids.size() > 40 ? ",...(" + std::to_string(ids.size()) + " ids)]" : "]");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: tokenizer_conformance CORPUS.json NAME=TOKENIZER_DIR=REFERENCE.json...\n";
    return 2;
  }
  const nlohmann::json corpus_json = ReadJson(argv[1]);
  std::vector<std::string> corpus = corpus_json.get<std::vector<std::string>>();
  size_t passed = 0, failed = 0;
  for (int a = 2; a < argc; ++a) {
    std::vector<std::string> parts = absl::StrSplit(argv[a], '=');
    if (parts.size() != 3) {
      std::cerr << "bad argument " << argv[a] << "\n";
      return 2;
    }
    const std::string& name = parts[0];
    absl::StatusOr<std::unique_ptr<djinn::Tokenizer>> tokenizer = djinn::Tokenizer::Load(parts[1]);
    if (!tokenizer.ok()) {
      std::cout << name << ": load failed: " << tokenizer.status() << "\n";
      failed += corpus.size();
      continue;
    }
    const nlohmann::json reference = ReadJson(parts[2]);
    const auto& plain = reference.at("plain");
    const auto& special = reference.at("special");
    const auto& decoded = reference.at("decoded");
    if (plain.size() != corpus.size() || special.size() != corpus.size() || decoded.size() != corpus.size()) {
      std::cerr << parts[2] << " does not match the corpus (" << plain.size() << " entries)\n";
      return 2;
    }
    std::mutex mutex;
    size_t tokenizer_failed = 0, round_trips = 0, shown = 0;
    auto check = [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        const std::string& text = corpus[i];
        const std::vector<int32_t> want_plain = plain[i].get<std::vector<int32_t>>();
        const std::vector<int32_t> want_special = special[i].get<std::vector<int32_t>>();
        const std::string want_text = decoded[i].get<std::string>();
        const std::vector<int32_t> got_plain = (*tokenizer)->Encode(text, false);
        const std::vector<int32_t> got_special = (*tokenizer)->Encode(text, true);
        const std::string got_text = (*tokenizer)->Decode(got_special);
        std::string problem;
        if (got_plain != want_plain) {
          problem += "\n  add_special_tokens=false: djinn " + Ids(got_plain) + "\n                       reference " + Ids(want_plain);
        }
        if (got_special != want_special) {
          problem += "\n  add_special_tokens=true:  djinn " + Ids(got_special) + "\n                       reference " + Ids(want_special);
        }
        if (got_text != want_text) problem += "\n  decode: djinn " + Escaped(got_text) + "\n       reference " + Escaped(want_text);
        std::lock_guard<std::mutex> lock(mutex);
        if (got_text == text) ++round_trips;
        if (problem.empty()) continue;
        ++tokenizer_failed;
        if (shown++ < 8) std::cout << name << ": string " << i << " " << Escaped(text) << problem << "\n";
      }
    };
    const size_t threads = std::max(2u, std::thread::hardware_concurrency());
    std::vector<std::thread> workers;
    for (size_t t = 0; t < threads; ++t) {
      workers.emplace_back(check, corpus.size() * t / threads, corpus.size() * (t + 1) / threads);
    }
    for (std::thread& w : workers) w.join();
    std::cout << name << ": " << corpus.size() - tokenizer_failed << " of " << corpus.size()
              << " strings equal to HF tokenizers " << reference.value("tokenizers_version", "?") << " ("
              << round_trips << " decode back to the exact input)\n";
    passed += corpus.size() - tokenizer_failed;
    failed += tokenizer_failed;
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
