// JSON output for scripts: the proto3 JSON mapping (lowerCamelCase names,
// 64-bit integers as strings) with every field present, zeros included.
#ifndef DJINN_CLIENT_CPP_DJINNCTL_JSON_H_
#define DJINN_CLIENT_CPP_DJINNCTL_JSON_H_

#include <google/protobuf/message.h>

namespace djinn::djinnctl {

// Prints the message to stdout; returns a djinnctl exit code.
int PrintJson(const google::protobuf::Message& message);

}  // namespace djinn::djinnctl

#endif  // DJINN_CLIENT_CPP_DJINNCTL_JSON_H_
