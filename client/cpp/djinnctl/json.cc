#include "client/cpp/djinnctl/json.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "client/cpp/djinnctl/command.h"

namespace djinn::djinnctl {

int PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // zero counters must appear
  options.add_whitespace = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return ReportError(absl::InternalError(status.ToString()));
  }
  std::fputs(json.c_str(), stdout);
  if (json.empty() || json.back() != '\n') std::fputc('\n', stdout);
  return kExitOk;
}

}  // namespace djinn::djinnctl
