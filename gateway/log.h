// Structured logging: one JSON object per line on stderr.
//
//   {"time":"2026-11-24T12:00:00.123Z","level":"info","event":"listening","port":50051}
//
// Log lines never carry prompt or response text, API keys or pseudonym values: callers pass
// identifiers, counts and status messages only. Thread-safe.
#pragma once

#include <string_view>

#include "nlohmann/json.hpp"

namespace airlock::gateway {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Lines below `level` are dropped. Default kInfo.
void SetLogLevel(LogLevel level);
// "debug", "info", "warn", "error"; false for anything else.
bool ParseLogLevel(std::string_view name, LogLevel* level);

void Log(LogLevel level, std::string_view event, nlohmann::json fields = nlohmann::json::object());

// RFC 3339 UTC with milliseconds, e.g. "2026-11-24T12:00:00.123Z".
std::string NowRfc3339();

}  // namespace airlock::gateway
