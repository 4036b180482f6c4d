#include "drivers/memory/memory_store.hpp"

#include <limits>
#include <tuple>

#include "config/defaults.hpp"

namespace prism::drivers {

using namespace prism::model;

namespace {

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

const memory_store::value_entry* memory_store::find_live(const space& s,
                                                         const std::string& key,
                                                         int64_t now_ms) {
  auto i = s.keys.find(key);
  if (i == s.keys.end() || !is_live(i->second.expires_at, now_ms))
    return nullptr;
  return &i->second;
}

uint64_t memory_store::write(const std::string& ns, space& s,
                             const std::string& key, const std::string& value,
                             uint64_t ttl_ms, int64_t now_ms) {
  const int64_t expires_at = expiry_for(now_ms, ttl_ms);
  // Everything that allocates comes first, and is undone if a later step
  // fails, so an allocation failure leaves the store as it was.
  std::string copy = value;
  expiry_index::iterator added = expiry_.end();
  if (expires_at != 0) {
    auto [where, fresh] = expiry_.insert(expiry_key{expires_at, ns, key});
    if (fresh)
      added = where;
  }
  key_map::iterator i;
  bool inserted = false;
  try {
    std::tie(i, inserted) = s.keys.try_emplace(key);
  } catch (...) {
    if (added != expiry_.end())
      expiry_.erase(added);
    throw;
  }
  // Nothing below allocates.
  if (inserted) {
    ++entries_;
  } else if (i->second.expires_at != 0 && i->second.expires_at != expires_at) {
    unindex(i->second.expires_at, ns, key);
  }
  i->second.value = std::move(copy);
  i->second.version = ++s.counter;
  i->second.expires_at = expires_at;
  return i->second.version;
}

void memory_store::unindex(int64_t expires_at, std::string_view ns,
                           std::string_view key) noexcept {
  auto i = expiry_.find(expiry_view{expires_at, ns, key});
  if (i != expiry_.end())
    expiry_.erase(i);
}

bool memory_store::erase(const std::string& ns, space& s,
                         const std::string& key, int64_t now_ms) {
  auto i = s.keys.find(key);
  if (i == s.keys.end())
    return false;
  const bool live = is_live(i->second.expires_at, now_ms);
  if (i->second.expires_at != 0)
    unindex(i->second.expires_at, ns, key);
  s.keys.erase(i);
  --entries_;
  return live;
}

const memory_store::space* memory_store::find_space(
  const std::string& ns) const {
  auto i = spaces_.find(ns);
  return i == spaces_.end() ? nullptr : &i->second;
}

outcome memory_store::apply(const std::string& ns, const operation& op,
                            int64_t now_ms) {
  struct runner {
    memory_store& store;
    const std::string& ns;
    int64_t now_ms;
    outcome run(const get_op& x) {
      return store.do_get(store.find_space(ns), x, now_ms);
    }
    outcome run(const exists_op& x) {
      return store.do_exists(store.find_space(ns), x, now_ms);
    }
    outcome run(const batch_get_op& x) {
      return store.do_batch_get(store.find_space(ns), x, now_ms);
    }
    outcome run(const scan_op& x) {
      return store.do_scan(store.find_space(ns), x, now_ms);
    }
    outcome run(const set_op& x) { return store.do_set(ns, x, now_ms); }
    outcome run(const delete_op& x) { return store.do_delete(ns, x, now_ms); }
    outcome run(const batch_set_op& x) {
      return store.do_batch_set(ns, x, now_ms);
    }
    outcome run(const batch_delete_op& x) {
      return store.do_batch_delete(ns, x, now_ms);
    }
  };
  return visit_keyvalue(runner{*this, ns, now_ms}, op);
}

outcome memory_store::do_get(const space* s, const get_op& op,
                             int64_t now_ms) const {
  get_result r;
  if (s != nullptr) {
    if (auto* e = find_live(*s, op.key, now_ms)) {
      r.found = true;
      r.value = e->value;
      r.version = e->version;
    }
  }
  return outcome::success(std::move(r));
}

outcome memory_store::do_exists(const space* s, const exists_op& op,
                                int64_t now_ms) const {
  exists_result r;
  r.exists = s != nullptr && find_live(*s, op.key, now_ms) != nullptr;
  return outcome::success(r);
}

outcome memory_store::do_batch_get(const space* s, const batch_get_op& op,
                                   int64_t now_ms) const {
  batch_get_result r;
  r.items.reserve(op.keys.size());
  answer_budget budget{op.answer_bytes_max};
  for (const auto& key : op.keys) {
    item it;
    it.key = key;
    if (s != nullptr) {
      if (auto* e = find_live(*s, key, now_ms)) {
        if (!budget.take(key.size() + e->value.size()))
          return batch_get_too_large(op);
        it.found = true;
        it.value = e->value;
        it.version = e->version;
      }
    }
    r.items.push_back(std::move(it));
  }
  return outcome::success(std::move(r));
}

outcome memory_store::do_scan(const space* s, const scan_op& op,
                              int64_t now_ms) const {
  scan_result r;
  if (s == nullptr)
    return outcome::success(std::move(r));
  const uint32_t limit = effective_scan_limit(op);
  answer_budget budget{op.answer_bytes_max};
  // Start at the first key >= prefix and > start_after.
  auto i = (!op.start_after.empty() && op.start_after.compare(op.prefix) >= 0)
    ? s->keys.upper_bound(op.start_after)
    : s->keys.lower_bound(op.prefix);
  for (; i != s->keys.end(); ++i) {
    if (!starts_with(i->first, op.prefix))
      break;
    if (!is_live(i->second.expires_at, now_ms))
      continue;
    if (r.items.size() == limit
        || !budget.take(i->first.size()
                        + (op.keys_only ? 0 : i->second.value.size()))) {
      // One more matching key exists: the caller needs another page.
      r.next_start_after = r.items.back().key;
      break;
    }
    item it;
    it.key = i->first;
    it.found = true;
    it.version = i->second.version;
    if (!op.keys_only)
      it.value = i->second.value;
    r.items.push_back(std::move(it));
  }
  return outcome::success(std::move(r));
}

outcome memory_store::do_set(const std::string& ns, const set_op& op,
                             int64_t now_ms) {
  if (op.if_version) {
    std::optional<uint64_t> current;
    auto si = spaces_.find(ns);
    if (si != spaces_.end()) {
      if (auto* e = find_live(si->second, op.key, now_ms))
        current = e->version;
    }
    const bool match = *op.if_version == 0 ? !current.has_value()
                                           : current == *op.if_version;
    if (!match)
      return outcome::failure(
        status_code::failed_precondition,
        version_mismatch_message(op.key, *op.if_version, current));
  }
  auto& s = spaces_[ns];
  set_result r;
  r.version = write(ns, s, op.key, op.value, op.ttl_ms, now_ms);
  return outcome::success(r);
}

outcome memory_store::do_delete(const std::string& ns, const delete_op& op,
                                int64_t now_ms) {
  delete_result r;
  auto si = spaces_.find(ns);
  if (si != spaces_.end())
    r.existed = erase(ns, si->second, op.key, now_ms);
  return outcome::success(r);
}

outcome memory_store::do_batch_set(const std::string& ns,
                                   const batch_set_op& op, int64_t now_ms) {
  batch_set_result r;
  r.versions.reserve(op.entries.size());
  auto& s = spaces_[ns];
  for (const auto& e : op.entries)
    r.versions.push_back(write(ns, s, e.key, e.value, e.ttl_ms, now_ms));
  return outcome::success(std::move(r));
}

outcome memory_store::do_batch_delete(const std::string& ns,
                                      const batch_delete_op& op,
                                      int64_t now_ms) {
  batch_delete_result r;
  auto si = spaces_.find(ns);
  if (si == spaces_.end())
    return outcome::success(r);
  // A key listed twice is removed by its first mention, so counts once.
  for (const auto& key : op.keys)
    if (erase(ns, si->second, key, now_ms))
      ++r.deleted;
  return outcome::success(r);
}

uint64_t memory_store::reclaim_expired(int64_t now_ms, uint32_t max_keys) {
  uint64_t removed = 0;
  while (removed < max_keys && !expiry_.empty()) {
    auto first = expiry_.begin();
    if (first->expires_at > now_ms)
      break;
    auto si = spaces_.find(first->ns);
    if (si != spaces_.end()) {
      auto ki = si->second.keys.find(first->key);
      if (ki != si->second.keys.end()) {
        si->second.keys.erase(ki);
        --entries_;
      }
    }
    expiry_.erase(first);
    ++removed;
  }
  return removed;
}

} // namespace prism::drivers
