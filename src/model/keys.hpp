#pragma once

// Rules every KeyValue backend applies alike: key order, TTL expiry, the
// end of a prefix, the message of a failed compare-and-set, a scan's limit.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/keyvalue.hpp"

namespace prism::model {

/// Bytewise order of keys (unsigned bytes, like memcmp, shorter first on a
/// common prefix). std::string's own order is the same; this names it.
struct bytewise_less {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept {
    return a.compare(b) < 0;
  }
};

/// The absolute expiry of a key written at `now_ms` with `ttl_ms`; 0 (never)
/// when ttl_ms is 0. Saturates instead of overflowing.
int64_t expiry_for(int64_t now_ms, uint64_t ttl_ms) noexcept;

/// True when a key with this expiry is still present at `now_ms`.
inline bool is_live(int64_t expires_at, int64_t now_ms) noexcept {
  return expires_at == 0 || expires_at > now_ms;
}

/// The message of a failed compare-and-set, e.g.
/// `version mismatch on key "k": expected 3, current 5` or
/// `version mismatch on key "k": expected 3, current: absent`.
/// Bytes that are not printable ASCII appear as \xNN; long keys are cut.
std::string version_mismatch_message(std::string_view key, uint64_t expected,
                                     std::optional<uint64_t> current);

/// The smallest string greater than every string starting with `prefix`, or
/// nullopt when there is none (empty prefix, or only 0xFF bytes).
std::optional<std::string> prefix_successor(std::string_view prefix);

/// Limit of a scan: the operation's own, or the default when it is 0.
uint32_t effective_scan_limit(const scan_op& op) noexcept;

} // namespace prism::model
