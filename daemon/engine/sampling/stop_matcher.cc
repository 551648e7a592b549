#include "daemon/engine/sampling/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace djinn {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& stop : stops) {
    if (stop.empty()) continue;  // would match everywhere
    max_stop_length_ = std::max(max_stop_length_, stop.size());
    stops_.push_back(std::move(stop));
  }
}

StopMatcher::Result StopMatcher::Push(std::string_view delta) {
  if (stopped_) return {"", true};
  pending_.append(delta);

  // Released text never contains the start of a stop string (see
  // HeldBackLength), so any occurrence lies wholly inside pending_.
  size_t earliest = std::string::npos;
  for (const std::string& stop : stops_) {
    earliest = std::min(earliest, pending_.find(stop));
  }
  if (earliest != std::string::npos) {
    stopped_ = true;
    std::string text = pending_.substr(0, earliest);
    pending_.clear();
    return {std::move(text), true};
  }

  const size_t release = pending_.size() - HeldBackLength();
  std::string text = pending_.substr(0, release);
  pending_.erase(0, release);
  return {std::move(text), false};
}

std::string StopMatcher::Flush() {
  std::string text = std::move(pending_);
  pending_.clear();
  return text;
}

size_t StopMatcher::HeldBackLength() const {
  // Longest first: the first hit is the answer. A suffix as long as a whole
  // stop string would already have been found as a match.
  if (stops_.empty()) return 0;
  const std::string_view pending(pending_);
  const size_t longest = std::min(pending.size(), max_stop_length_ - 1);
  for (size_t n = longest; n > 0; --n) {
    const std::string_view suffix = pending.substr(pending.size() - n);
    for (const std::string& stop : stops_) {
      if (n < stop.size() && std::string_view(stop).starts_with(suffix)) {
        return n;
      }
    }
  }
  return 0;
}

}  // namespace djinn
