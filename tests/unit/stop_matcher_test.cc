#include "daemon/engine/sampling/stop_matcher.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace djinn {
namespace {

// Feeds the deltas and returns every released chunk (Flush last, if not
// stopped) joined, plus whether it stopped.
std::pair<std::string, bool> Feed(StopMatcher& m,
                                  const std::vector<std::string>& deltas) {
  std::string out;
  for (const auto& d : deltas) {
    auto r = m.Push(d);
    out += r.text;
    if (r.stopped) return {out, true};
  }
  out += m.Flush();
  return {out, false};
}

TEST(StopMatcherTest, NoStopsPassesThrough) {
  StopMatcher m({});
  auto r = m.Push("hello <");
  EXPECT_EQ(r.text, "hello <");
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, EmptyStopStringsAreIgnored) {
  StopMatcher m({"", ""});
  auto r = m.Push("abc");
  EXPECT_EQ(r.text, "abc");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcherTest, StopSpanningSeveralDeltas) {
  StopMatcher m({"<|end|>"});
  auto r = m.Push("Hi <|");
  EXPECT_EQ(r.text, "Hi ");
  EXPECT_FALSE(r.stopped);
  r = m.Push("en");
  EXPECT_EQ(r.text, "");
  EXPECT_FALSE(r.stopped);
  r = m.Push("d|> trailing");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
  // Nothing after a stop is ever released.
  r = m.Push("more");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(m.Flush(), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcherTest, HeldBackPrefixReleasedWhenBroken) {
  StopMatcher m({"STOP"});
  auto r = m.Push("go ST");
  EXPECT_EQ(r.text, "go ");
  r = m.Push("OR");
  EXPECT_EQ(r.text, "STOR");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcherTest, BrokenPrefixMayStartAnotherPrefix) {
  // "aaa" cannot start "aab", but its last two bytes can: only the first
  // "a" is released, and the stop then matches at the held-back text.
  StopMatcher m({"aab"});
  EXPECT_EQ(m.Push("a").text, "");
  EXPECT_EQ(m.Push("a").text, "");
  EXPECT_EQ(m.Push("a").text, "a");
  auto r = m.Push("b");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcherTest, EarliestStopWins) {
  StopMatcher m({"world", "lo w", "xyz"});
  auto r = m.Push("hello world");
  EXPECT_EQ(r.text, "hel");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcherTest, EarliestStopWinsAcrossDeltas) {
  // "Q:" completes later in the stream but starts earlier than "\n\n".
  StopMatcher m({"\n\n", "Q:\n"});
  auto [text, stopped] = Feed(m, {"answer Q", ":", "\n\n"});
  EXPECT_EQ(text, "answer ");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcherTest, StopAtVeryStart) {
  StopMatcher m({"###"});
  auto r = m.Push("### heading");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcherTest, FlushReturnsHeldBackText) {
  StopMatcher m({"</s>"});
  auto r = m.Push("x </");
  EXPECT_EQ(r.text, "x ");
  EXPECT_EQ(m.Flush(), "</");
}

TEST(StopMatcherTest, Utf8StopStrings) {
  StopMatcher m({"。终", "€€"});
  auto [text, stopped] = Feed(m, {"价格 5", "\xE2\x82", "\xAC", "€", " x"});
  EXPECT_EQ(text, "价格 5");
  EXPECT_TRUE(stopped);

  StopMatcher n({"。终"});
  auto r = n.Push("你好。");
  EXPECT_EQ(r.text, "你好");  // "。" might begin "。终"
  r = n.Push("好");
  EXPECT_EQ(r.text, "。好");
  r = n.Push("。终止");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcherTest, ByteAtATimeEqualsWholeText) {
  const std::string text = "The answer is 42.\nUser: thanks";
  StopMatcher whole({"\nUser:", "Assistant:"});
  const auto expected = Feed(whole, {text});
  EXPECT_EQ(expected.first, "The answer is 42.");
  EXPECT_TRUE(expected.second);
  StopMatcher bytes({"\nUser:", "Assistant:"});
  std::vector<std::string> deltas;
  for (char c : text) deltas.emplace_back(1, c);
  EXPECT_EQ(Feed(bytes, deltas), expected);
}

TEST(StopMatcherTest, NoMatchReleasesEverythingEventually) {
  StopMatcher m({"<|im_end|>"});
  auto [text, stopped] = Feed(m, {"a <", "|im", "_en", "d nope", " <|im_"});
  EXPECT_EQ(text, "a <|im_end nope <|im_");
  EXPECT_FALSE(stopped);
}

}  // namespace
}  // namespace djinn
