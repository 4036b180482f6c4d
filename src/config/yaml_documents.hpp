#pragma once

// The documents of a YAML stream beyond the first, which a config file may
// not hold.

#include <optional>
#include <string>

#include <yaml-cpp/mark.h>

namespace prism::config::detail {

/// Where a second, non-empty document starts, if there is one. Throws
/// YAML::ParserException on a syntax error past the first document.
/// YAML::LoadAll is not used: yaml-cpp 0.7 loops forever in it on some
/// malformed input (e.g. ",#"), producing null documents without end.
std::optional<YAML::Mark> second_document(const std::string& text);

} // namespace prism::config::detail
