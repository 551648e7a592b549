// Structured logs: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-25T07:40:00.123Z","level":"info","msg":"serving","grpc_port":50051}
// Machines (log shippers, our integration tests) parse them; people can read
// them. Thread-safe; lines never interleave.
#ifndef DJINN_COMMON_LOGGING_H_
#define DJINN_COMMON_LOGGING_H_

#include <nlohmann/json.hpp>
#include <string>

namespace djinn {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Lines below this level are dropped. Default: kInfo.
void SetMinLogLevel(LogLevel level);

void Log(LogLevel level, const std::string& message, nlohmann::json fields = nlohmann::json::object());

inline void LogInfo(const std::string& message, nlohmann::json fields = nlohmann::json::object()) {
  Log(LogLevel::kInfo, message, std::move(fields));
}
inline void LogWarning(const std::string& message, nlohmann::json fields = nlohmann::json::object()) {
  Log(LogLevel::kWarning, message, std::move(fields));
}
inline void LogError(const std::string& message, nlohmann::json fields = nlohmann::json::object()) {
  Log(LogLevel::kError, message, std::move(fields));
}

}  // namespace djinn

#endif  // DJINN_COMMON_LOGGING_H_
