// Just enough HTTP/1.1 syntax for a metrics endpoint: finding and parsing a
// request head, and formatting a complete "Connection: close" response.
// No sockets here, so the parsing is unit-testable on strings.
#ifndef DJINN_COMMON_METRICS_HTTP_MESSAGE_H_
#define DJINN_COMMON_METRICS_HTTP_MESSAGE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace djinn::metrics {

// Requests whose head (request line + headers + blank line) is longer than
// this get a 400: a scraper never sends that much, anything that does is
// not a scraper.
inline constexpr size_t kMaxRequestHeadBytes = 16 * 1024;

struct HttpRequestHead {
  std::string method;   // "GET"
  std::string path;     // "/metrics", query string removed
  std::string version;  // "HTTP/1.1"
};

// Offset just past the blank line that ends the head ("\r\n\r\n", or
// "\n\n" from lenient clients), or npos if it has not arrived yet.
size_t FindRequestHeadEnd(absl::string_view data);

// Parses a complete head. InvalidArgument on anything malformed: a request
// line that is not "METHOD SP target SP HTTP/1.x", a target that is neither
// origin-form ("/path") nor absolute-form ("http://host/path"), a header
// line without a name and a colon.
absl::StatusOr<HttpRequestHead> ParseRequestHead(absl::string_view head);

// A whole response with Content-Length and "Connection: close".
// `extra_headers` is zero or more "Name: value\r\n" lines.
std::string FormatHttpResponse(int status_code, absl::string_view reason,
                               absl::string_view content_type, absl::string_view body,
                               absl::string_view extra_headers = {});

}  // namespace djinn::metrics

#endif  // DJINN_COMMON_METRICS_HTTP_MESSAGE_H_
