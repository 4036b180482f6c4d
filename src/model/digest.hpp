#pragma once

// SHA-256 for what must not be kept in the clear: token hashes, redacted
// keys in audit lines.

#include <string>
#include <string_view>

namespace prism::model {

/// The lowercase hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

} // namespace prism::model
