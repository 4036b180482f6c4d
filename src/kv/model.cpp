#include "kv/model.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace prism {

std::string_view to_string(status_code code) noexcept {
  switch (code) {
    case status_code::ok: return "OK";
    case status_code::cancelled: return "CANCELLED";
    case status_code::unknown: return "UNKNOWN";
    case status_code::invalid_argument: return "INVALID_ARGUMENT";
    case status_code::deadline_exceeded: return "DEADLINE_EXCEEDED";
    case status_code::not_found: return "NOT_FOUND";
    case status_code::already_exists: return "ALREADY_EXISTS";
    case status_code::permission_denied: return "PERMISSION_DENIED";
    case status_code::resource_exhausted: return "RESOURCE_EXHAUSTED";
    case status_code::failed_precondition: return "FAILED_PRECONDITION";
    case status_code::aborted: return "ABORTED";
    case status_code::out_of_range: return "OUT_OF_RANGE";
    case status_code::unimplemented: return "UNIMPLEMENTED";
    case status_code::internal: return "INTERNAL";
    case status_code::unavailable: return "UNAVAILABLE";
    case status_code::data_loss: return "DATA_LOSS";
    case status_code::unauthenticated: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

std::string_view to_string(refusal reason) noexcept {
  switch (reason) {
    case refusal::none: return "none";
    case refusal::rate_limit: return "rate_limit";
    case refusal::mailbox_full: return "mailbox_full";
    case refusal::window_full: return "window_full";
    case refusal::queue_full: return "queue_full";
    case refusal::circuit_open: return "circuit_open";
    case refusal::deadline: return "deadline";
    case refusal::audit_backlog: return "audit_backlog";
  }
  return "none";
}

} // namespace prism

namespace prism::kv {

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

} // namespace

std::string_view operation_name(const operation& op) noexcept {
  static constexpr std::string_view names[] = {
    "Get",      "Set",  "Delete",  "Exists",   "BatchGet",
    "BatchSet", "BatchDelete", "Scan", "Publish", "Subscribe"};
  return names[op.index()];
}

bool is_pubsub(const operation& op) noexcept {
  return std::holds_alternative<publish_op>(op)
         || std::holds_alternative<subscribe_op>(op);
}

bool is_write(const operation& op) noexcept {
  return std::holds_alternative<set_op>(op)
         || std::holds_alternative<publish_op>(op)
         || std::holds_alternative<delete_op>(op)
         || std::holds_alternative<batch_set_op>(op)
         || std::holds_alternative<batch_delete_op>(op);
}

std::string_view primary_key(const operation& op) noexcept {
  return std::visit(
    overloaded{
      [](const get_op& x) -> std::string_view { return x.key; },
      [](const set_op& x) -> std::string_view { return x.key; },
      [](const delete_op& x) -> std::string_view { return x.key; },
      [](const exists_op& x) -> std::string_view { return x.key; },
      [](const batch_get_op& x) -> std::string_view {
        return x.keys.empty() ? std::string_view{} : x.keys.front();
      },
      [](const batch_set_op& x) -> std::string_view {
        return x.entries.empty() ? std::string_view{} : x.entries.front().key;
      },
      [](const batch_delete_op& x) -> std::string_view {
        return x.keys.empty() ? std::string_view{} : x.keys.front();
      },
      [](const scan_op& x) -> std::string_view { return x.prefix; },
      [](const publish_op& x) -> std::string_view { return x.topic; },
      [](const subscribe_op& x) -> std::string_view { return x.topic; },
    },
    op);
}

uint64_t largest_value_bytes(const operation& op) noexcept {
  if (auto* set = std::get_if<set_op>(&op))
    return set->value.size();
  if (auto* pub = std::get_if<publish_op>(&op))
    return pub->payload.size();
  if (auto* batch = std::get_if<batch_set_op>(&op)) {
    uint64_t largest = 0;
    for (auto& e : batch->entries)
      largest = std::max<uint64_t>(largest, e.value.size());
    return largest;
  }
  return 0;
}

outcome batch_get_too_large(const batch_get_op& op) {
  return outcome::failure(
    status_code::invalid_argument,
    fmt::format("the found keys and values come to more than {} bytes, the "
                "most one answer may carry (the largest max_value_bytes of "
                "the gateway's namespaces plus 1 MiB); ask for fewer keys "
                "per BatchGet",
                op.answer_bytes_max));
}

void limit_answer(operation& op, uint64_t answer_bytes_max) noexcept {
  if (auto* x = std::get_if<batch_get_op>(&op))
    x->answer_bytes_max = answer_bytes_max;
  else if (auto* y = std::get_if<scan_op>(&op))
    y->answer_bytes_max = answer_bytes_max;
}

} // namespace prism::kv
