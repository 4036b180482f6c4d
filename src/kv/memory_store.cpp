#include "kv/memory_store.hpp"

#include <limits>
#include <type_traits>
#include <tuple>

#include "config/defaults.hpp"

namespace prism::kv {

int64_t expiry_for(int64_t now_ms, uint64_t ttl_ms) noexcept {
  if (ttl_ms == 0)
    return 0;
  constexpr int64_t max = std::numeric_limits<int64_t>::max();
  if (now_ms < 0)
    now_ms = 0;
  if (ttl_ms >= static_cast<uint64_t>(max - now_ms))
    return max;
  return now_ms + static_cast<int64_t>(ttl_ms);
}

std::string version_mismatch_message(std::string_view key, uint64_t expected,
                                     std::optional<uint64_t> current) {
  static constexpr size_t max_shown = 128;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "version mismatch on key \"";
  size_t shown = 0;
  for (unsigned char c : key) {
    if (shown == max_shown) {
      out += "...";
      break;
    }
    ++shown;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  out += "\": expected ";
  out += std::to_string(expected);
  if (current)
    out += ", current " + std::to_string(*current);
  else
    out += ", current: absent";
  return out;
}

std::optional<std::string> prefix_successor(std::string_view prefix) {
  std::string s{prefix};
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff)
    s.pop_back();
  if (s.empty())
    return std::nullopt;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

uint32_t effective_scan_limit(const scan_op& op) noexcept {
  return op.limit == 0 ? defaults::scan_limit_default : op.limit;
}

namespace {

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

const memory_store::value_entry*
memory_store::find_live(const space& s, const std::string& key, int64_t now_ms) {
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

bool memory_store::erase(const std::string& ns, space& s, const std::string& key,
                         int64_t now_ms) {
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

outcome memory_store::apply(const std::string& ns, const operation& op,
                            int64_t now_ms) {
  return std::visit(
    [&](const auto& x) -> outcome {
      using T = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<T, set_op>) {
        return do_set(ns, x, now_ms);
      } else if constexpr (std::is_same_v<T, delete_op>) {
        return do_delete(ns, x, now_ms);
      } else if constexpr (std::is_same_v<T, batch_set_op>) {
        return do_batch_set(ns, x, now_ms);
      } else if constexpr (std::is_same_v<T, batch_delete_op>) {
        return do_batch_delete(ns, x, now_ms);
      } else if constexpr (std::is_same_v<T, publish_op>
                           || std::is_same_v<T, subscribe_op>) {
        return outcome::failure(status_code::internal,
                                "a PubSub operation reached a KeyValue store");
      } else {
        auto i = spaces_.find(ns);
        const space* s = i == spaces_.end() ? nullptr : &i->second;
        if constexpr (std::is_same_v<T, get_op>)
          return do_get(s, x, now_ms);
        else if constexpr (std::is_same_v<T, exists_op>)
          return do_exists(s, x, now_ms);
        else if constexpr (std::is_same_v<T, batch_get_op>)
          return do_batch_get(s, x, now_ms);
        else
          return do_scan(s, x, now_ms);
      }
    },
    op);
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

outcome memory_store::do_batch_set(const std::string& ns, const batch_set_op& op,
                                   int64_t now_ms) {
  batch_set_result r;
  r.versions.reserve(op.entries.size());
  auto& s = spaces_[ns];
  for (const auto& e : op.entries)
    r.versions.push_back(write(ns, s, e.key, e.value, e.ttl_ms, now_ms));
  return outcome::success(std::move(r));
}

outcome memory_store::do_batch_delete(const std::string& ns,
                                      const batch_delete_op& op, int64_t now_ms) {
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

} // namespace prism::kv
