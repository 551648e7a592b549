#include "common/testmodel/corpus.h"

#include <cstdint>
#include <iterator>
#include <string_view>

namespace djinn::testmodel {
namespace {

constexpr int kSentences = 3000;

// Common English words, with inflections so that BPE finds shared stems and
// suffixes ("play", "played", "playing") rather than only whole words.
constexpr std::string_view kWords[] = {
    "the", "a", "an", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with",
    "from", "into", "over", "under", "after", "before", "between", "through", "about", "is",
    "are", "was", "were", "be", "been", "being", "has", "have", "had", "do", "does", "did",
    "will", "would", "can", "could", "should", "may", "might", "must", "not", "no", "yes",
    "this", "that", "these", "those", "it", "its", "he", "she", "they", "we", "you", "i",
    "his", "her", "their", "our", "your", "my", "who", "what", "where", "when", "why", "how",
    "which", "there", "here", "then", "than", "very", "more", "most", "some", "many", "few",
    "all", "each", "every", "other", "another", "new", "old", "good", "great", "small",
    "large", "little", "long", "short", "high", "low", "young", "early", "late", "first",
    "last", "next", "same", "different", "important", "possible", "public", "quick", "slow",
    "brown", "green", "blue", "red", "white", "black", "warm", "cold", "bright", "dark",
    "hello", "world", "time", "year", "years", "day", "days", "week", "month", "night",
    "morning", "evening", "people", "person", "man", "woman", "child", "children", "friend",
    "friends", "family", "teacher", "student", "students", "city", "country", "house",
    "houses", "home", "room", "school", "water", "river", "rivers", "mountain", "stone",
    "tree", "trees", "garden", "gardens", "road", "street", "light", "music", "story",
    "stories", "book", "books", "paper", "letter", "word", "words", "number", "numbers",
    "question", "answer", "problem", "system", "model", "models", "token", "tokens", "data",
    "memory", "machine", "computer", "program", "language", "server", "request",
    "fox", "dog", "cat", "bird", "horse", "fish", "jumps", "jump", "jumped", "jumping",
    "play", "plays", "played", "playing", "walk", "walks", "walked", "walking", "talk",
    "talked", "talking", "work", "works", "worked", "working", "make", "makes", "made",
    "making", "take", "takes", "took", "taking", "see", "sees", "saw", "seen", "know",
    "knows", "knew", "known", "think", "thinks", "thought", "come", "comes", "came", "go",
    "goes", "went", "going", "give", "gives", "gave", "given", "find", "finds", "found",
    "tell", "tells", "told", "ask", "asked", "asking", "read", "reads", "reading", "write",
    "writes", "wrote", "written", "writing", "learn", "learned", "learning", "open",
    "opened", "close", "closed", "start", "started", "finish", "finished", "quickly",
    "slowly", "carefully", "together", "always", "never", "often", "sometimes", "again",
    "today", "tomorrow", "yesterday", "nation", "station", "information", "happiness",
    "kindness", "beautiful", "wonderful", "careful", "useful", "unusual", "unknown",
};

// Names, so that capitalised words are common mid-sentence too.
constexpr std::string_view kNames[] = {
    "Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "London", "Paris",
    "Berlin", "Tokyo", "Monday", "Friday", "January", "July", "English", "Djinn",
};

// SplitMix64 with a fixed seed: the corpus is a constant of the program.
class Prng {
 public:
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); the modulo bias is irrelevant here.
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_ = 20240601;
};

}  // namespace

std::vector<std::string> MakeTokenizerCorpus() {
  Prng rng;
  std::vector<std::string> sentences;
  sentences.reserve(kSentences);
  for (int s = 0; s < kSentences; ++s) {
    std::string sentence;
    const int words = 4 + static_cast<int>(rng.Below(12));
    for (int w = 0; w < words; ++w) {
      if (w > 0) sentence += rng.Below(12) == 0 ? ", " : " ";
      const uint64_t kind = rng.Below(20);
      if (kind == 0) {
        // Separate statements: the order of the draws must not depend on the
        // compiler's choice of argument evaluation order.
        const uint64_t limit = rng.Below(2) == 0 ? 100 : 100000;
        sentence += std::to_string(rng.Below(limit));
      } else if (kind == 1) {
        sentence += kNames[rng.Below(std::size(kNames))];
      } else {
        sentence += kWords[rng.Below(std::size(kWords))];
      }
    }
    if (sentence[0] >= 'a' && sentence[0] <= 'z') sentence[0] = static_cast<char>(sentence[0] - 32);
    constexpr std::string_view kEnds[] = {".", ".", ".", ".", "?", "!"};
    sentence += kEnds[rng.Below(std::size(kEnds))];
    sentences.push_back(std::move(sentence));
  }
  return sentences;
}

}  // namespace djinn::testmodel
