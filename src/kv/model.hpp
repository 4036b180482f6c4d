#pragma once

// The KeyValue data model shared by the actors and the drivers: one struct
// per operation, one per result. It does not depend on protobuf, so actors and
// drivers can be built and tested without the gRPC front end.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/defaults.hpp"
#include "kv/status.hpp"

namespace prism::kv {

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
inline constexpr uint64_t answer_bytes_default =
  defaults::max_value_bytes + defaults::message_overhead_bytes;

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

// --- PubSub: the same call path carries them to a topic broker ----------------

using metadata = std::vector<std::pair<std::string, std::string>>;

struct publish_op {
  std::string topic;
  std::string payload;
  kv::metadata metadata;
};

/// `unknown`: a value the API does not define, refused by validate_request.
enum class start_position { latest, earliest, unknown };

/// Subscribes the calling stream to a topic. An empty `subscription` is an
/// ephemeral subscriber; a named one is shared by every subscriber that
/// names it (each message goes to one of them) and keeps its position.
struct subscribe_op {
  std::string topic;
  std::string subscription;
  start_position start = start_position::latest;
};

/// One message as a subscriber receives it.
struct message {
  std::string topic;
  std::string payload;
  kv::metadata metadata;
  std::string id;
  int64_t publish_time_ms = 0;
  /// The backend's handle for acknowledging it (named subscriptions on
  /// Kafka and NATS); never sent to clients.
  uint64_t tag = 0;
};

using operation = std::variant<get_op, set_op, delete_op, exists_op,
                               batch_get_op, batch_set_op, batch_delete_op,
                               scan_op, publish_op, subscribe_op>;

/// True for Publish and Subscribe.
bool is_pubsub(const operation& op) noexcept;

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

/// Variant alternatives line up with `operation`, shifted by one for the
/// empty state of a failed outcome.
struct publish_result {
  std::string message_id;
};

/// The subscription is in place; messages follow on the stream.
struct subscribe_result {};

using result = std::variant<std::monostate, get_result, set_result,
                            delete_result, exists_result, batch_get_result,
                            batch_set_result, batch_delete_result, scan_result,
                            publish_result, subscribe_result>;

/// What a driver answers: a status, and a result when the status is OK.
struct outcome {
  prism::status status;
  kv::result value;
  /// Set by a driver whose connection broke: this operation was not applied
  /// (or cannot be known to be), and the connection cannot take more work.
  /// The connection actor then fails, and its supervisor starts a new one.
  bool connection_lost = false;

  static outcome failure(status_code code, std::string message) {
    return outcome{prism::status::failure(code, std::move(message)), {}};
  }
  /// UNAVAILABLE, with connection_lost set.
  static outcome lost(std::string message) {
    auto o = failure(status_code::unavailable, std::move(message));
    o.connection_lost = true;
    return o;
  }
  template <class Result>
  static outcome success(Result&& r) {
    return outcome{prism::status{}, kv::result{std::forward<Result>(r)}};
  }
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

/// The INVALID_ARGUMENT a BatchGet answers when its answer would carry
/// more than `op.answer_bytes_max` bytes of keys and values.
outcome batch_get_too_large(const batch_get_op& op);

/// Sets the answer limit of a BatchGet or a Scan (no effect on the others).
void limit_answer(operation& op, uint64_t answer_bytes_max) noexcept;

/// The RPC name of an operation, e.g. "Get" or "BatchSet".
std::string_view operation_name(const operation& op) noexcept;

/// True for operations that change data.
bool is_write(const operation& op) noexcept;

/// The key an operation addresses, or its first key, or "" (for Scan, the prefix).
std::string_view primary_key(const operation& op) noexcept;

/// Bytes of keys and values an operation carries, for value-size checks.
uint64_t largest_value_bytes(const operation& op) noexcept;

} // namespace prism::kv
