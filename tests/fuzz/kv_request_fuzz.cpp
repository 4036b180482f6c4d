// Fuzzes the KeyValue requests as the service reads them: the first byte
// picks the method, the rest is the request message as it comes off the
// wire. A message that parses goes through the service's conversion and
// validation; one that passes runs on a memory store holding a few keys,
// as the memory backend would run it.

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>

#include <google/protobuf/stubs/logging.h>

#include "config/defaults.hpp"
#include "drivers/memory/memory_store.hpp"
#include "frontend/keyvalue_requests.hpp"
#include "fuzz_check.hpp"
#include "model/validate.hpp"

namespace {

namespace defaults = prism::defaults;
namespace model = prism::model;
using prism::status_code;

constexpr int64_t now_ms = 1'000'000;

/// What validation promises the backends of an operation it passed.
void check_valid(const std::string& ns, const model::operation& op) {
  FUZZ_CHECK(!ns.empty() && ns.size() <= defaults::namespace_name_bytes_max);
  auto key_ok = [](const std::string& key) {
    return !key.empty() && key.size() <= defaults::key_bytes_max;
  };
  std::visit(
    [&](const auto& x) {
      using T = std::decay_t<decltype(x)>;
      if constexpr (
        std::is_same_v<
          T,
          model::batch_get_op> || std::is_same_v<T, model::batch_delete_op>) {
        FUZZ_CHECK(x.keys.size() <= defaults::batch_keys_max);
        for (const auto& key : x.keys)
          FUZZ_CHECK(key_ok(key));
      } else if constexpr (std::is_same_v<T, model::batch_set_op>) {
        FUZZ_CHECK(x.entries.size() <= defaults::batch_keys_max);
        for (const auto& e : x.entries)
          FUZZ_CHECK(key_ok(e.key));
      } else if constexpr (std::is_same_v<T, model::scan_op>) {
        FUZZ_CHECK(x.limit >= 1 && x.limit <= defaults::scan_limit_max);
        FUZZ_CHECK(x.prefix.size() <= defaults::key_bytes_max);
        FUZZ_CHECK(x.start_after.size() <= defaults::key_bytes_max);
      } else if constexpr (model::is_pubsub_operation_v<T>) {
        FUZZ_CHECK(!"a KeyValue request became a PubSub operation");
      } else {
        FUZZ_CHECK(key_ok(x.key));
      }
    },
    op);
}

/// A store with keys around the edges of key order: a prefix and its
/// extensions, 0xFF bytes (no prefix successor), a key that expires.
prism::drivers::memory_store seeded_store(const std::string& ns) {
  prism::drivers::memory_store store;
  using namespace std::string_literals;
  for (const auto& key :
       {"a"s, "ab"s, "abc"s, "b"s, "\xff"s, "\xff\xff"s, "k\0z"s})
    store.apply(ns, model::set_op{key, "value", 0, {}}, now_ms - 10);
  store.apply(ns, model::set_op{"ttl", "gone", 5, {}}, now_ms - 10);
  return store;
}

/// The service's path for one request: conversion, validation and the
/// answer limit (frontend_core::dispatch), then the backend.
template <class Request>
void serve(const uint8_t* data, size_t size) {
  Request request;
  if (size > INT_MAX || !request.ParseFromArray(data, static_cast<int>(size)))
    return; // gRPC answers a message that does not parse itself
  auto op = prism::frontend::to_operation(request);
  const std::string& ns = request.namespace_();
  auto st = model::validate_request(ns, op);
  model::limit_answer(op, model::answer_bytes_default);
  FUZZ_CHECK(!model::operation_name(op).empty());
  model::largest_value_bytes(op);
  model::primary_key(op);
  if (!st.ok()) {
    FUZZ_CHECK(st.code == status_code::invalid_argument);
    FUZZ_CHECK(!st.message.empty());
    return;
  }
  check_valid(ns, op);
  auto store = seeded_store(ns);
  auto outcome = store.apply(ns, op, now_ms);
  if (outcome.status.ok()) {
    // Results line up with operations, shifted by one for "none".
    FUZZ_CHECK(outcome.value.index() == op.index() + 1);
  } else {
    FUZZ_CHECK(!outcome.status.message.empty());
    FUZZ_CHECK(outcome.status.code != status_code::internal);
  }
  store.reclaim_expired(now_ms + 10, defaults::batch_keys_max);
}

/// protobuf logs every string field that is not UTF-8 as it refuses the
/// message: noise at this rate.
[[maybe_unused]] const bool protobuf_quiet = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

using serve_function = void (*)(const uint8_t*, size_t);

/// One row per KeyValue method, in the order of the service.
constexpr serve_function methods[] = {
  serve<prism::v1::GetRequest>,         serve<prism::v1::SetRequest>,
  serve<prism::v1::DeleteRequest>,      serve<prism::v1::ExistsRequest>,
  serve<prism::v1::BatchGetRequest>,    serve<prism::v1::BatchSetRequest>,
  serve<prism::v1::BatchDeleteRequest>, serve<prism::v1::ScanRequest>,
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  constexpr size_t count = sizeof methods / sizeof methods[0];
  methods[data[0] % count](data + 1, size - 1);
  return 0;
}
