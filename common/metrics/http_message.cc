#include "common/metrics/http_message.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace djinn::metrics {
namespace {

// RFC 9110 tchar: the characters allowed in methods and header names.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed HTTP request: ", what));
}

}  // namespace

size_t FindRequestHeadEnd(absl::string_view data) {
  const size_t crlf = data.find("\r\n\r\n");
  const size_t lf = data.find("\n\n");
  if (crlf == absl::string_view::npos && lf == absl::string_view::npos) {
    return absl::string_view::npos;
  }
  if (lf == absl::string_view::npos || (crlf != absl::string_view::npos && crlf < lf)) {
    return crlf + 4;
  }
  return lf + 2;
}

absl::StatusOr<HttpRequestHead> ParseRequestHead(absl::string_view head) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  for (absl::string_view& line : lines) absl::ConsumeSuffix(&line, "\r");
  // The head ends in a blank line, which splitting turns into trailing
  // empty pieces.
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) return Malformed("empty request");

  const std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3) return Malformed("request line is not \"METHOD target HTTP/1.x\"");
  HttpRequestHead out;
  if (!IsToken(parts[0])) return Malformed("bad method");
  out.method = std::string(parts[0]);

  absl::string_view target = parts[1];
  if (absl::ConsumePrefix(&target, "http://") || absl::ConsumePrefix(&target, "https://")) {
    const size_t slash = target.find('/');
    target = slash == absl::string_view::npos ? absl::string_view("/") : target.substr(slash);
  }
  if (target.empty() || target[0] != '/') return Malformed("bad request target");
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return Malformed("control character in request target");
    }
  }
  const size_t query = target.find_first_of("?#");
  out.path = std::string(target.substr(0, query));

  if (!absl::StartsWith(parts[2], "HTTP/1.") || parts[2].size() != 8 || parts[2][7] < '0' ||
      parts[2][7] > '9') {
    return Malformed("unsupported HTTP version");
  }
  out.version = std::string(parts[2]);

  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || !IsToken(lines[i].substr(0, colon))) {
      return Malformed("bad header line");
    }
  }
  return out;
}

std::string FormatHttpResponse(int status_code, absl::string_view reason,
                               absl::string_view content_type, absl::string_view body,
                               absl::string_view extra_headers) {
  return absl::StrCat("HTTP/1.1 ", status_code, " ", reason, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n",
                      extra_headers, "\r\n", body);
}

}  // namespace djinn::metrics
