#pragma once

// One client request's operation and its outcome, KeyValue or PubSub, as the
// actors carry them, and the one way to dispatch an operation to code that
// handles each kind.

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "model/keyvalue.hpp"
#include "model/pubsub.hpp"
#include "model/status.hpp"

namespace prism::model {

using operation = std::variant<get_op, set_op, delete_op, exists_op,
                               batch_get_op, batch_set_op, batch_delete_op,
                               scan_op, publish_op, subscribe_op>;

/// True for the operations a topic broker serves rather than a pool.
template <class T>
inline constexpr bool is_pubsub_operation_v
  = std::is_same_v<T, publish_op> || std::is_same_v<T, subscribe_op>;

/// True for Publish and Subscribe.
bool is_pubsub(const operation& op) noexcept;

/// Alternatives line up with `operation`, shifted by one for the empty
/// state of a failed outcome.
using result = std::variant<std::monostate, get_result, set_result,
                            delete_result, exists_result, batch_get_result,
                            batch_set_result, batch_delete_result, scan_result,
                            publish_result, subscribe_result>;

/// What a driver answers: a status, and a result when the status is OK.
struct outcome {
  prism::status status;
  model::result value;
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
    return outcome{prism::status{}, model::result{std::forward<Result>(r)}};
  }
};

/// The INTERNAL answer of a KeyValue backend that is handed a PubSub
/// operation (the router never does that).
outcome pubsub_on_keyvalue_backend();

/// Runs a KeyValue operation on `handler`, which has one
/// `outcome run(const X&)` for each KeyValue operation X. A handler that
/// lacks one does not compile: an operation added to `operation` is handled
/// by every KeyValue backend before the gateway builds. PubSub operations
/// are answered with pubsub_on_keyvalue_backend().
template <class Handler>
outcome visit_keyvalue(Handler&& handler, const operation& op) {
  return std::visit(
    [&](const auto& x) -> outcome {
      using T = std::decay_t<decltype(x)>;
      if constexpr (is_pubsub_operation_v<T>)
        return pubsub_on_keyvalue_backend();
      else
        return handler.run(x);
    },
    op);
}

/// The INVALID_ARGUMENT a BatchGet answers when its answer would carry
/// more than `op.answer_bytes_max` bytes of keys and values.
outcome batch_get_too_large(const batch_get_op& op);

/// Sets the answer limit of a BatchGet or a Scan (no effect on the others).
void limit_answer(operation& op, uint64_t answer_bytes_max) noexcept;

/// The RPC name of an operation, e.g. "Get" or "BatchSet".
std::string_view operation_name(const operation& op) noexcept;

/// True for operations that change data.
bool is_write(const operation& op) noexcept;

/// The key an operation addresses, or its first key, or "" (for Scan, the
/// prefix; for PubSub, the topic).
std::string_view primary_key(const operation& op) noexcept;

/// Bytes of keys and values an operation carries, for value-size checks.
uint64_t largest_value_bytes(const operation& op) noexcept;

} // namespace prism::model
