#pragma once

// The middleware stage kinds, in one table: the config checks a namespace's
// `middleware` list against it, the gateway builds each namespace's chain
// and starts one actor per kind from it, and each stage names itself by it.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace prism::config {

enum class stage_kind : uint8_t { access, rate_limit, metrics, audit };

/// When a stage sees a call on its way in, where it may answer the call
/// itself, rather than only hearing of its outcome.
enum class stage_refusal : uint8_t {
  /// On every call of a namespace whose chain has it.
  always,
  /// Never: it only observes outcomes.
  never,
  /// On the calls of namespaces with audit_required.
  when_audit_required,
};

struct stage_kind_info {
  stage_kind kind;
  /// As written in the config and shown in logs, metrics and /debug.
  std::string_view name;
  /// Named in a namespace's `middleware` list; the others are placed by the
  /// gateway (access with auth on, rate_limit where a limit is set).
  bool listed_in_middleware;
  stage_refusal refuses;
};

/// Every kind, in the order a chain runs them.
inline constexpr std::array<stage_kind_info, 4> stage_kinds{{
  {stage_kind::access, "access", false, stage_refusal::always},
  {stage_kind::rate_limit, "rate_limit", false, stage_refusal::always},
  {stage_kind::metrics, "metrics", true, stage_refusal::never},
  {stage_kind::audit, "audit", true, stage_refusal::when_audit_required},
}};

constexpr const stage_kind_info& info_of(stage_kind kind) noexcept {
  return stage_kinds[static_cast<size_t>(kind)];
}

constexpr std::string_view to_string(stage_kind kind) noexcept {
  return info_of(kind).name;
}

/// The kind named `name`, if there is one.
constexpr std::optional<stage_kind> stage_kind_named(std::string_view name) {
  for (const auto& row : stage_kinds)
    if (row.name == name)
      return row.kind;
  return std::nullopt;
}

/// Whether a stage of this kind sees the calls of a namespace on their way
/// in (with `audit_required` as that namespace sets it).
constexpr bool refuses_calls(stage_kind kind, bool audit_required) noexcept {
  switch (info_of(kind).refuses) {
    case stage_refusal::always: return true;
    case stage_refusal::never: return false;
    case stage_refusal::when_audit_required: return audit_required;
  }
  return false;
}

static_assert(info_of(stage_kind::audit).kind == stage_kind::audit,
              "stage_kinds is indexed by stage_kind");

} // namespace prism::config
