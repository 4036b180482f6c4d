#pragma once

// Bounds how many messages may wait in one actor's mailbox. CAF's mailboxes
// are unbounded, so a sender takes a slot before it enqueues and the actor
// gives the slot back when it handles the message; a sender that finds no
// slot refuses the work at once instead of queueing it. Thread-safe, no lock.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "config/defaults.hpp"
#include "model/operation.hpp"
#include "runtime/inspector.hpp"

namespace prism {

class admission {
public:
  explicit admission(uint32_t limit) : limit_(limit) {}

  /// Takes a slot; false (and counted as rejected) when the mailbox is full.
  bool try_acquire() noexcept {
    auto before = queued_.fetch_add(1, std::memory_order_acq_rel);
    if (before >= limit_) {
      queued_.fetch_sub(1, std::memory_order_acq_rel);
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  /// Gives a slot back; the owning actor calls it as it handles a message.
  void release() noexcept { queued_.fetch_sub(1, std::memory_order_acq_rel); }

  /// Takes a slot even past the limit, for a message that must not be
  /// refused (the outcomes of calls already answered, for a stage that
  /// observes them); `has_room` then holds back new work instead.
  void take() noexcept { queued_.fetch_add(1, std::memory_order_acq_rel); }

  /// Whether new work that will end up in this mailbox may start: false
  /// (and counted as rejected) while the mailbox is full.
  bool has_room() noexcept {
    if (queued() < limit_)
      return true;
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  /// The owner takes no new work for now of its own accord (a pool whose
  /// connections are all busy and whose queue is full): a sender refuses a
  /// call at once instead of sending it only to have it refused, and counts
  /// it with `refuse_ahead`. Set and cleared by the owner as its state
  /// changes, so a sender may see it a moment late either way; the owner
  /// still refuses what reaches it while full.
  bool saturated() const noexcept {
    return saturated_.load(std::memory_order_relaxed);
  }
  void set_saturated(bool full) noexcept {
    saturated_.store(full, std::memory_order_relaxed);
  }
  /// A call refused for the owner because it was saturated: counted with
  /// the owner's mailbox refusals (its record shows them as rejected).
  void refuse_ahead() noexcept {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    refused_ahead_.fetch_add(1, std::memory_order_relaxed);
  }
  /// Calls refused by senders while the owner was saturated.
  uint64_t refused_ahead() const noexcept {
    return refused_ahead_.load(std::memory_order_relaxed);
  }

  uint32_t limit() const noexcept { return limit_; }
  uint32_t queued() const noexcept {
    return queued_.load(std::memory_order_acquire);
  }
  uint64_t rejected() const noexcept {
    return rejected_.load(std::memory_order_relaxed);
  }

private:
  const uint32_t limit_;
  std::atomic<uint32_t> queued_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<bool> saturated_{false};
  std::atomic<uint64_t> refused_ahead_{0};
};

using admission_ptr = std::shared_ptr<admission>;

/// The answer to work refused for overload: RESOURCE_EXHAUSTED with the
/// retry hint the front end sends as `x-prism-retry-after-ms`; `reason` says
/// which limit was reached.
inline model::outcome overload_refusal(refusal reason, std::string message) {
  auto outcome = model::outcome::failure(status_code::resource_exhausted,
                                         std::move(message));
  outcome.status.retry_after_ms = defaults::overload_retry_after_ms;
  outcome.status.reason = reason;
  return outcome;
}

/// The answer to a call for a backend whose connections are all busy and
/// whose pool already holds `max_pending` waiting calls: from the pool
/// itself, or from the router while the pool says it is saturated.
inline model::outcome pool_saturated_refusal(const std::string& backend,
                                             uint32_t max_pending) {
  return overload_refusal(
    refusal::queue_full,
    "backend \"" + backend + "\" is saturated: all connections are busy and "
      + std::to_string(max_pending) + " requests are waiting; retry later");
}

/// What the owning actor does as it takes a message that held a slot: gives
/// the slot back and mirrors the mailbox (admitted, depth with this message
/// still counted so the high-water mark sees it, refusals since last time)
/// into its inspector record.
inline void took_message(admission& gate, inspector_registration& record,
                         uint64_t& rejections_seen) noexcept {
  if (record) {
    record->count_admitted();
    record->set_mailbox_depth(gate.queued());
  }
  gate.release();
  if (!record)
    return;
  record->set_mailbox_depth(gate.queued());
  auto rejected = gate.rejected();
  if (rejected > rejections_seen) {
    record->count_rejected(rejected - rejections_seen);
    rejections_seen = rejected;
  }
}

} // namespace prism
