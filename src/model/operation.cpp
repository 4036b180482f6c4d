#include "model/operation.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace prism::model {

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

} // namespace

std::string_view operation_name(const operation& op) noexcept {
  static constexpr std::string_view names[]
    = {"Get",      "Set",         "Delete", "Exists",  "BatchGet",
       "BatchSet", "BatchDelete", "Scan",   "Publish", "Subscribe"};
  static_assert(std::size(names) == std::variant_size_v<operation>,
                "every operation has a name");
  return names[op.index()];
}

bool is_pubsub(const operation& op) noexcept {
  return std::visit(
    [](const auto& x) {
      return is_pubsub_operation_v<std::decay_t<decltype(x)>>;
    },
    op);
}

outcome pubsub_on_keyvalue_backend() {
  return outcome::failure(status_code::internal,
                          "a PubSub operation reached a KeyValue backend");
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

} // namespace prism::model
