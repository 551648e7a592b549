// A built-in English-like training corpus for the test tokenizer: sentences
// drawn from a fixed word list by a fixed-seed PRNG, so it is the same on
// every machine and needs no data files.
#ifndef DJINN_COMMON_TESTMODEL_CORPUS_H_
#define DJINN_COMMON_TESTMODEL_CORPUS_H_

#include <string>
#include <vector>

namespace djinn::testmodel {

// About 3000 sentences of 4 to 15 words with capitals, punctuation and
// numbers.
std::vector<std::string> MakeTokenizerCorpus();

}  // namespace djinn::testmodel

#endif  // DJINN_COMMON_TESTMODEL_CORPUS_H_
