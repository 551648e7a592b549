// Cuts a stream of text at the first stop string, for streaming responses.
//
// A stop string can arrive split across chunks ("<|e" + "nd|>"), so text
// that might be the start of a stop string is held back until the next
// chunk decides it; everything else is released at once.
#ifndef DJINN_DAEMON_ENGINE_SAMPLING_STOP_MATCHER_H_
#define DJINN_DAEMON_ENGINE_SAMPLING_STOP_MATCHER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace djinn {

// One per request; not thread-safe. Matching is on bytes, so UTF-8 stop
// strings work as long as they are valid UTF-8, and released text never
// splits a character that the input did not split.
class StopMatcher {
 public:
  // Empty strings are ignored; with no stop strings Push passes text through.
  explicit StopMatcher(std::vector<std::string> stops);

  struct Result {
    std::string text;  // safe to send to the client now
    bool stopped;      // a stop string was found; generation should end
  };

  // Appends `delta`. If a stop string now occurs, returns the text before
  // its earliest occurrence (across all stop strings) with stopped = true;
  // the stop string and anything after it are never released, and later
  // Pushes return {"", true}. Otherwise returns the text that cannot be part
  // of a stop string, holding back the longest suffix that is a proper
  // prefix of one.
  Result Push(std::string_view delta);

  // At the end of generation without a stop: the held-back text. Empty once
  // stopped.
  std::string Flush();

  bool stopped() const { return stopped_; }

 private:
  // Length of the longest suffix of pending_ that is a proper prefix of
  // some stop string.
  size_t HeldBackLength() const;

  std::vector<std::string> stops_;
  size_t max_stop_length_ = 0;
  // Held back: shorter than the longest stop string, so matching per Push
  // costs O(delta + longest stop), not O(generated text).
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace djinn

#endif  // DJINN_DAEMON_ENGINE_SAMPLING_STOP_MATCHER_H_
