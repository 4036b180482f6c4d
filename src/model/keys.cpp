#include "model/keys.hpp"

#include <limits>

namespace prism::model {

int64_t expiry_for(int64_t now_ms, uint64_t ttl_ms) noexcept {
  if (ttl_ms == 0)
    return 0;
  constexpr int64_t max = std::numeric_limits<int64_t>::max();
  if (now_ms < 0)
    now_ms = 0;
  if (ttl_ms >= static_cast<uint64_t>(max - now_ms))
    return max;
  return now_ms + static_cast<int64_t>(ttl_ms);
}

std::string version_mismatch_message(std::string_view key, uint64_t expected,
                                     std::optional<uint64_t> current) {
  static constexpr size_t max_shown = 128;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "version mismatch on key \"";
  size_t shown = 0;
  for (unsigned char c : key) {
    if (shown == max_shown) {
      out += "...";
      break;
    }
    ++shown;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  out += "\": expected ";
  out += std::to_string(expected);
  if (current)
    out += ", current " + std::to_string(*current);
  else
    out += ", current: absent";
  return out;
}

std::optional<std::string> prefix_successor(std::string_view prefix) {
  std::string s{prefix};
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff)
    s.pop_back();
  if (s.empty())
    return std::nullopt;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

uint32_t effective_scan_limit(const scan_op& op) noexcept {
  return op.limit == 0 ? defaults::scan_limit_default : op.limit;
}

} // namespace prism::model
