// Fuzzes the PubSub requests as the service reads them: the first byte
// picks Publish or Subscribe, the rest is the request message as it comes
// off the wire. A message that parses goes through the service's
// conversion and validation; what passes is named as the NATS backend
// names it (subject, durable consumer, metadata headers), which must hold
// every valid topic, subscription and metadata entry.

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include <google/protobuf/stubs/logging.h>

#include "config/defaults.hpp"
#include "drivers/nats/nats_names.hpp"
#include "frontend/pubsub_requests.hpp"
#include "fuzz_check.hpp"
#include "model/validate.hpp"

namespace {

namespace defaults = prism::defaults;
namespace model = prism::model;
namespace names = prism::drivers::nats_names;
using prism::status_code;

/// A valid topic or subscription: what every backend can name.
void check_name(const std::string& name) {
  FUZZ_CHECK(name.size() <= defaults::topic_name_bytes_max);
  for (char c : name)
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
               || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
}

void check_valid(const std::string& ns, const model::publish_op& op) {
  FUZZ_CHECK(!op.topic.empty());
  check_name(op.topic);
  FUZZ_CHECK(op.metadata.size() <= defaults::metadata_entries_max);
  names::subject("prism", ns, op.topic);
  for (const auto& [key, value] : op.metadata) {
    FUZZ_CHECK(!key.empty());
    // Metadata travels as NATS headers and must come back unchanged.
    std::string back;
    FUZZ_CHECK(names::metadata_key_of(names::metadata_header(key), back));
    FUZZ_CHECK(back == key);
    auto encoded = names::encode_value(value);
    for (unsigned char c : encoded)
      FUZZ_CHECK(c > 0x20 && c < 0x7f);
    FUZZ_CHECK(names::decode_value(encoded) == value);
  }
}

void check_valid(const std::string& ns, const model::subscribe_op& op) {
  FUZZ_CHECK(!op.topic.empty());
  check_name(op.topic);
  check_name(op.subscription);
  FUZZ_CHECK(op.start != model::start_position::unknown);
  auto subject = names::subject("prism", ns, op.topic);
  if (!subject.empty()) {
    FUZZ_CHECK(names::valid_subject(subject));
    FUZZ_CHECK(
      names::subject_covers(names::stream_subjects("prism", ns), subject));
  }
  names::stream_name("PRISM_", ns);
  if (!op.subscription.empty()) {
    auto durable = names::durable_name(op.topic, op.subscription);
    FUZZ_CHECK(!durable.empty() && durable.size() <= names::durable_name_max);
    FUZZ_CHECK(durable.find('.') == std::string::npos);
  }
}

/// The service's path for one request: conversion and validation
/// (frontend_core::dispatch and dispatch_stream), then the backend's names.
template <class Request>
void serve(const uint8_t* data, size_t size) {
  Request request;
  if (size > INT_MAX || !request.ParseFromArray(data, static_cast<int>(size)))
    return; // gRPC answers a message that does not parse itself
  auto op = prism::frontend::to_operation(request);
  const std::string& ns = request.namespace_();
  auto st = model::validate_request(ns, op);
  FUZZ_CHECK(!model::operation_name(op).empty());
  model::primary_key(op);
  model::largest_value_bytes(op);
  if (!st.ok()) {
    FUZZ_CHECK(st.code == status_code::invalid_argument);
    FUZZ_CHECK(!st.message.empty());
    return;
  }
  FUZZ_CHECK(!ns.empty() && ns.size() <= defaults::namespace_name_bytes_max);
  std::visit(
    [&](const auto& x) {
      if constexpr (model::is_pubsub_operation_v<std::decay_t<decltype(x)>>)
        check_valid(ns, x);
      else
        FUZZ_CHECK(!"a PubSub request became a KeyValue operation");
    },
    op);
}

/// protobuf logs every string field that is not UTF-8 as it refuses the
/// message: noise at this rate.
[[maybe_unused]] const bool protobuf_quiet = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

using serve_function = void (*)(const uint8_t*, size_t);

constexpr serve_function methods[] = {
  serve<prism::v1::PublishRequest>,
  serve<prism::v1::SubscribeRequest>,
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  constexpr size_t count = sizeof methods / sizeof methods[0];
  methods[data[0] % count](data + 1, size - 1);
  return 0;
}
