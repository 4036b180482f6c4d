#pragma once

#include <string>

namespace prism::logging {

enum class format { text, json };

/// Configures the process-wide logger on stderr: human-readable lines, or one
/// JSON object per line. Throws std::invalid_argument for an unknown level.
void setup(format fmt, const std::string& level);

/// Parses "text" or "json"; false for anything else.
bool parse_format(const std::string& text, format& out);

} // namespace prism::logging
