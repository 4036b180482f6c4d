#pragma once

// The KeyValue engine behind the memory backend and the simulated driver: a
// pure, single-threaded store. It never reads a clock and never draws random
// numbers; every call gets the time from its caller, so the same calls in the
// same order always give the same answers. Callers serialise access.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "model/keys.hpp"
#include "model/operation.hpp"

namespace prism::drivers {

class memory_store {
public:
  /// Runs one operation on namespace `ns` at time `now_ms`.
  model::outcome apply(const std::string& ns, const model::operation& op,
                       int64_t now_ms);

  /// Removes up to `max_keys` entries whose expiry is <= now_ms, earliest
  /// expiry first, and answers how many it removed.
  uint64_t reclaim_expired(int64_t now_ms, uint32_t max_keys);

  /// Entries held: live ones and expired ones not yet reclaimed.
  size_t size() const noexcept { return entries_; }

private:
  struct value_entry {
    std::string value;
    uint64_t version = 0;
    int64_t expires_at = 0;
  };
  using key_map = std::map<std::string, value_entry, model::bytewise_less>;
  struct space {
    key_map keys;
    /// The last version handed out in this namespace.
    uint64_t counter = 0;
  };
  /// (expires_at, namespace, key) of every entry with a TTL, earliest first.
  struct expiry_key {
    int64_t expires_at;
    std::string ns;
    std::string key;
  };
  struct expiry_view {
    int64_t expires_at;
    std::string_view ns;
    std::string_view key;
  };
  struct expiry_less {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      if (a.expires_at != b.expires_at)
        return a.expires_at < b.expires_at;
      if (int c = std::string_view{a.ns}.compare(b.ns); c != 0)
        return c < 0;
      return std::string_view{a.key}.compare(b.key) < 0;
    }
  };
  using expiry_index = std::set<expiry_key, expiry_less>;

  /// The live entry of `key`, or nullptr when absent or expired.
  static const value_entry* find_live(const space& s, const std::string& key,
                                      int64_t now_ms);

  /// Writes one entry with the next version of `s`; answers the version.
  uint64_t write(const std::string& ns, space& s, const std::string& key,
                 const std::string& value, uint64_t ttl_ms, int64_t now_ms);

  /// Drops one entry of the expiry index, if present.
  void unindex(int64_t expires_at, std::string_view ns,
               std::string_view key) noexcept;

  /// Removes `key` if stored (live or expired); true when it was live.
  bool erase(const std::string& ns, space& s, const std::string& key,
             int64_t now_ms);

  /// The namespace `ns`, or nullptr when nothing was ever written to it.
  const space* find_space(const std::string& ns) const;

  model::outcome do_get(const space* s, const model::get_op& op,
                        int64_t now_ms) const;
  model::outcome do_exists(const space* s, const model::exists_op& op,
                           int64_t now_ms) const;
  model::outcome do_batch_get(const space* s, const model::batch_get_op& op,
                              int64_t now_ms) const;
  model::outcome do_scan(const space* s, const model::scan_op& op,
                         int64_t now_ms) const;
  model::outcome do_set(const std::string& ns, const model::set_op& op,
                        int64_t now_ms);
  model::outcome do_delete(const std::string& ns, const model::delete_op& op,
                           int64_t now_ms);
  model::outcome do_batch_set(const std::string& ns,
                              const model::batch_set_op& op, int64_t now_ms);
  model::outcome do_batch_delete(const std::string& ns,
                                 const model::batch_delete_op& op,
                                 int64_t now_ms);

  std::map<std::string, space, model::bytewise_less> spaces_;
  expiry_index expiry_;
  size_t entries_ = 0;
};

} // namespace prism::drivers
