#pragma once

// The KeyValue operations and their results, as the actors and the drivers
// see them: one struct per RPC, one per answer. No protobuf here, so actors
// and drivers build and test without the gRPC front end.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/defaults.hpp"

namespace prism::model {

struct get_op {
  std::string key;
};

struct exists_op {
  std::string key;
};

struct set_op {
  std::string key;
  std::string value;
  uint64_t ttl_ms = 0;
  std::optional<uint64_t> if_version;
};

struct delete_op {
  std::string key;
};

/// The most bytes of keys and values one BatchGet or Scan answer may carry
/// unless the front end says otherwise: the largest request a namespace
/// with the default max_value_bytes accepts.
inline constexpr uint64_t answer_bytes_default
  = defaults::value_bytes_max + defaults::message_overhead_bytes;

struct batch_get_op {
  std::vector<std::string> keys;
  /// A BatchGet whose found keys and values come to more fails
  /// (batch_get_too_large) before the rest is gathered: a small request
  /// naming one large value many times cannot make the gateway build a
  /// huge answer. One found key always passes, as a Get would.
  uint64_t answer_bytes_max = answer_bytes_default;
};

struct entry {
  std::string key;
  std::string value;
  uint64_t ttl_ms = 0;
};

struct batch_set_op {
  std::vector<entry> entries;
};

struct batch_delete_op {
  std::vector<std::string> keys;
};

struct scan_op {
  std::string prefix;
  std::string start_after;
  /// Already resolved by the front end: 1..scan_limit_max.
  uint32_t limit = 100;
  bool keys_only = false;
  /// A page ends early, with next_start_after set, before the item that
  /// would take its keys and values past this (a page has at least one
  /// item).
  uint64_t answer_bytes_max = answer_bytes_default;
};

struct item {
  std::string key;
  bool found = false;
  std::string value;
  uint64_t version = 0;
};

struct get_result {
  bool found = false;
  std::string value;
  uint64_t version = 0;
};

struct set_result {
  uint64_t version = 0;
};

struct delete_result {
  bool existed = false;
};

struct exists_result {
  bool exists = false;
};

struct batch_get_result {
  std::vector<item> items;
};

struct batch_set_result {
  std::vector<uint64_t> versions;
};

struct batch_delete_result {
  uint32_t deleted = 0;
};

struct scan_result {
  std::vector<item> items;
  std::string next_start_after;
};

/// Counts the bytes of keys and values a BatchGet or Scan answer carries
/// against its limit (`answer_bytes_max`): the first item always fits, as
/// a Get would give it; later ones only while the total stays within it.
class answer_budget {
public:
  explicit answer_budget(uint64_t max) noexcept : max_(max) {}
  /// Counts an item of `bytes`; false, and nothing counted, when it does
  /// not fit.
  bool take(uint64_t bytes) noexcept {
    if (any_ && used_ + bytes > max_)
      return false;
    used_ += bytes;
    any_ = true;
    return true;
  }

private:
  uint64_t max_;
  uint64_t used_ = 0;
  bool any_ = false;
};

} // namespace prism::model
