// Small string helpers for the engine's messages (the engine does not depend on Abseil's
// strings, whose string_view differs from std::string_view on Debian).
#pragma once

#include <sstream>
#include <string>

namespace airlock::engine {

// The arguments written one after another, as operator<< writes them.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace airlock::engine
