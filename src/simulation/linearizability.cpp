// (c) of oracles.hpp: per-key linearizability of the KeyValue history
// against a versioned register, by a Wing-Gong search (depth first over the
// operations that may come next, remembering the (placed set, state) pairs
// already explored, as Lowe's refinement does).

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <unordered_set>

#include "simulation/oracles.hpp"

namespace prism::simulation {

namespace {

constexpr uint64_t never = std::numeric_limits<uint64_t>::max();

/// One operation of one key's history, as the register model sees it.
struct lin_op {
  enum class kind : uint8_t { read, write, cas, cas_refused, del } what;
  /// Answered (ok, or refused for its version); false: unknown outcome,
  /// it may take effect at any time after its call, or never.
  bool completed = true;
  uint64_t call = 0;
  uint64_t ret = never;
  /// read: the value seen (-1: absent); write and cas: the value written.
  int value = -1;
  uint64_t if_version = 0;
  /// Delete: whether it said the key existed.
  bool existed = false;
  const kv_operation* source = nullptr;
};

struct reg_state {
  int value = -1;
  uint64_t max_version = 0;
};

/// A key's operations and the values written to it (each write's value is
/// unique, so a value names its write).
struct key_history {
  std::vector<lin_op> ops;
  std::map<std::string, int> value_ids;
  std::vector<std::string> values;
  /// Versions seen for each value: from acknowledged writes and reads.
  std::vector<std::vector<std::pair<uint64_t, const kv_operation*>>> seen;

  int id_of(const std::string& value) {
    auto [i, added] = value_ids.emplace(value, static_cast<int>(values.size()));
    if (added) {
      values.push_back(value);
      seen.emplace_back();
    }
    return i->second;
  }
};

lin_op make(lin_op::kind what, const kv_operation& op, completion_type type) {
  lin_op l{what};
  l.completed = type != completion_type::info;
  l.call = op.invoke_index;
  l.ret = l.completed ? op.complete_index : never;
  l.if_version = op.if_version;
  l.existed = op.existed;
  l.source = &op;
  return l;
}

void add_write(key_history& h, const kv_operation& op, lin_op::kind what,
               const std::string& value, std::optional<uint64_t> version,
               completion_type type) {
  auto l = make(what, op, type);
  l.value = h.id_of(value);
  if (version)
    h.seen[l.value].emplace_back(*version, &op);
  h.ops.push_back(l);
}

void add_read(key_history& h, const kv_operation& op, bool found,
              const std::string& value, uint64_t version) {
  auto l = make(lin_op::kind::read, op, completion_type::ok);
  if (found) {
    l.value = h.id_of(value);
    h.seen[l.value].emplace_back(version, &op);
  }
  h.ops.push_back(l);
}

void add_operation(std::map<std::string, key_history>& keys,
                   const kv_operation& op) {
  auto type = classify(op);
  bool ok = type == completion_type::ok;
  std::optional<uint64_t> version;
  if (ok)
    version = op.version;
  switch (op.f) {
    case op_function::get:
      if (ok)
        add_read(keys[op.key], op, op.found, op.read_value, op.version);
      break;
    case op_function::scan:
      if (ok)
        for (auto& item : op.items)
          add_read(keys[item.key], op, true, item.value, item.version);
      break;
    case op_function::set:
      if (type != completion_type::fail)
        add_write(keys[op.key], op, lin_op::kind::write, op.value, version,
                  type);
      break;
    case op_function::cas:
      if (type != completion_type::fail)
        add_write(keys[op.key], op, lin_op::kind::cas, op.value, version, type);
      else if (op.code == status_code::failed_precondition)
        keys[op.key].ops.push_back(make(lin_op::kind::cas_refused, op, type));
      break;
    case op_function::batch_set:
      if (type != completion_type::fail)
        for (size_t i = 0; i < op.entries.size(); ++i) {
          std::optional<uint64_t> v;
          if (ok && i < op.versions.size())
            v = op.versions[i];
          add_write(keys[op.entries[i].first], op, lin_op::kind::write,
                    op.entries[i].second, v, type);
        }
      break;
    case op_function::del:
      if (type != completion_type::fail)
        keys[op.key].ops.push_back(make(lin_op::kind::del, op, type));
      break;
    case op_function::publish:
    case op_function::subscribe: break; // topics are not registers
  }
}

/// A read of a value no write that may have been applied wrote, or two
/// versions for one value: no order explains it. Fills `versions` (the
/// version of each value, when seen).
std::string direct_violation(const std::string& key, const key_history& h,
                             std::vector<std::optional<uint64_t>>& versions) {
  versions.assign(h.values.size(), std::nullopt);
  for (size_t id = 0; id < h.values.size(); ++id)
    for (auto& [version, op] : h.seen[id]) {
      if (!versions[id]) {
        versions[id] = version;
      } else if (*versions[id] != version) {
        return "key " + key + ": value " + h.values[id] + " has version "
          + std::to_string(*versions[id]) + " and version "
          + std::to_string(version) + " (" + describe(*op) + ")";
      }
    }
  std::vector<bool> written(h.values.size(), false);
  for (auto& l : h.ops)
    if (l.what != lin_op::kind::read && l.value >= 0)
      written[l.value] = true;
  for (auto& l : h.ops)
    if (l.what == lin_op::kind::read && l.value >= 0 && !written[l.value])
      return "key " + key + ": read " + h.values[l.value]
        + ", which no write that may have been applied wrote ("
        + describe(*l.source) + ")";
  return {};
}

/// A write of unknown outcome whose value nobody read is left out of the
/// search: applied, it is never seen, so the only traces it can leave are a
/// delete finding the key or a CAS refused for a version nobody else wrote.
/// The model allows those two while such a write was called before them
/// (`unseen_write_call`), which keeps every legal history legal and the
/// search small.
uint64_t drop_unseen_unknown_writes(key_history& h) {
  std::vector<bool> read(h.values.size(), false);
  for (auto& l : h.ops)
    if (l.what == lin_op::kind::read && l.value >= 0)
      read[l.value] = true;
  uint64_t first_call = never;
  auto unseen = [&](const lin_op& l) {
    return !l.completed
      && (l.what == lin_op::kind::write || l.what == lin_op::kind::cas)
      && !read[l.value];
  };
  for (auto& l : h.ops)
    if (unseen(l))
      first_call = std::min(first_call, l.call);
  h.ops.erase(std::remove_if(h.ops.begin(), h.ops.end(), unseen), h.ops.end());
  return first_call;
}

struct memo_hash {
  size_t operator()(const std::vector<uint64_t>& words) const noexcept {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (auto w : words) {
      h ^= w;
      h *= 0x100000001b3ULL;
      h ^= h >> 29;
    }
    return static_cast<size_t>(h);
  }
};

class key_search {
public:
  key_search(std::vector<lin_op> ops,
             std::vector<std::optional<uint64_t>> versions,
             uint64_t unseen_write_call, uint64_t max_states)
    : ops_(std::move(ops)), versions_(std::move(versions)),
      unseen_write_call_(unseen_write_call), max_states_(max_states) {
    std::stable_sort(ops_.begin(), ops_.end(),
                     [](auto& a, auto& b) { return a.call < b.call; });
    for (uint32_t i = 0; i < ops_.size(); ++i)
      if (ops_[i].completed)
        by_return_.push_back(i);
    std::stable_sort(by_return_.begin(), by_return_.end(),
                     [&](auto a, auto b) { return ops_[a].ret < ops_[b].ret; });
    placed_.assign(ops_.size(), false);
    words_.assign((ops_.size() + 63) / 64 + 2, 0);
  }

  enum class result { legal, illegal, unknown };
  result run();

  uint64_t explored() const { return memo_.size(); }
  size_t answered() const { return by_return_.size(); }
  size_t best_depth() const { return best_depth_; }
  /// When illegal: the answered operation the longest legal prefix could
  /// not be extended past.
  const lin_op* blocked() const { return blocked_; }

private:
  struct frame {
    reg_state state;
    std::vector<uint32_t> candidates;
    size_t next = 0;
    int64_t chosen = -1;
  };

  std::optional<reg_state> step(const reg_state& s, const lin_op& op) const;
  std::vector<uint32_t> candidates() const;
  const lin_op* first_unplaced_answered() const;
  void place(uint32_t i, bool on);
  std::vector<uint64_t> memo_key(const reg_state& s) const;

  std::vector<lin_op> ops_;
  std::vector<std::optional<uint64_t>> versions_;
  uint64_t unseen_write_call_;
  uint64_t max_states_;
  std::vector<uint32_t> by_return_;
  std::vector<bool> placed_;
  std::vector<uint64_t> words_;
  size_t placed_answered_ = 0;
  std::unordered_set<std::vector<uint64_t>, memo_hash> memo_;
  size_t best_depth_ = 0;
  const lin_op* blocked_ = nullptr;
};

std::optional<reg_state> key_search::step(const reg_state& s,
                                          const lin_op& op) const {
  auto write = [&](int value) -> std::optional<reg_state> {
    reg_state next = s;
    if (auto v = versions_[value]) {
      // Versions grow with every write of the namespace.
      if (*v <= s.max_version)
        return std::nullopt;
      next.max_version = *v;
    }
    next.value = value;
    return next;
  };
  // Whether the current version is `expected`; nullopt: nobody saw the
  // current value's version.
  auto matches = [&](uint64_t expected) -> std::optional<bool> {
    if (s.value < 0)
      return expected == 0;
    if (expected == 0)
      return false;
    if (!versions_[s.value])
      return std::nullopt;
    return *versions_[s.value] == expected;
  };
  bool unseen_write_before = unseen_write_call_ < op.ret;
  switch (op.what) {
    case lin_op::kind::read:
      if (op.value != s.value)
        return std::nullopt;
      return s;
    case lin_op::kind::write: return write(op.value);
    case lin_op::kind::cas: {
      auto m = matches(op.if_version);
      if (m && !*m)
        return std::nullopt;
      return write(op.value);
    }
    case lin_op::kind::cas_refused: {
      auto m = matches(op.if_version);
      if (m && *m && !unseen_write_before)
        return std::nullopt;
      return s;
    }
    case lin_op::kind::del: {
      if (op.completed && op.existed != (s.value >= 0)
          && !(op.existed && unseen_write_before))
        return std::nullopt;
      reg_state next = s;
      next.value = -1;
      return next;
    }
  }
  return std::nullopt;
}

const lin_op* key_search::first_unplaced_answered() const {
  for (auto i : by_return_)
    if (!placed_[i])
      return &ops_[i];
  return nullptr;
}

/// The operations that may come next: called before every unplaced answered
/// operation returned. Answered ones first (they must all be placed), then
/// those of unknown outcome.
std::vector<uint32_t> key_search::candidates() const {
  auto* first = first_unplaced_answered();
  auto limit = first ? first->ret : never;
  std::vector<uint32_t> answered;
  std::vector<uint32_t> unknown;
  for (uint32_t i = 0; i < ops_.size() && ops_[i].call < limit; ++i)
    if (!placed_[i])
      (ops_[i].completed ? answered : unknown).push_back(i);
  answered.insert(answered.end(), unknown.begin(), unknown.end());
  return answered;
}

void key_search::place(uint32_t i, bool on) {
  placed_[i] = on;
  if (on)
    words_[i / 64] |= uint64_t{1} << (i % 64);
  else
    words_[i / 64] &= ~(uint64_t{1} << (i % 64));
  if (ops_[i].completed)
    placed_answered_ += on ? 1 : static_cast<size_t>(-1);
}

std::vector<uint64_t> key_search::memo_key(const reg_state& s) const {
  auto key = words_;
  key[key.size() - 2] = static_cast<uint64_t>(static_cast<int64_t>(s.value));
  key[key.size() - 1] = s.max_version;
  return key;
}

key_search::result key_search::run() {
  if (by_return_.empty())
    return result::legal;
  std::vector<frame> stack;
  stack.push_back(frame{reg_state{}, candidates()});
  while (!stack.empty()) {
    auto depth = stack.size() - 1;
    if (stack.back().chosen >= 0) {
      place(static_cast<uint32_t>(stack.back().chosen), false);
      stack.back().chosen = -1;
    }
    bool deeper = false;
    while (stack[depth].next < stack[depth].candidates.size()) {
      auto i = stack[depth].candidates[stack[depth].next++];
      auto after = step(stack[depth].state, ops_[i]);
      if (!after)
        continue;
      place(i, true);
      if (!memo_.insert(memo_key(*after)).second) {
        place(i, false);
        continue;
      }
      if (memo_.size() > max_states_)
        return result::unknown;
      stack[depth].chosen = i;
      if (placed_answered_ == by_return_.size())
        return result::legal;
      stack.push_back(frame{*after, candidates()});
      deeper = true;
      break;
    }
    if (deeper)
      continue;
    if (placed_answered_ >= best_depth_ || !blocked_) {
      best_depth_ = placed_answered_;
      blocked_ = first_unplaced_answered();
    }
    stack.pop_back();
  }
  return result::illegal;
}

} // namespace

oracle_result check_linearizable(const std::vector<kv_operation>& ops,
                                 uint64_t max_states) {
  const auto kind = oracle_kind::linearizable;
  std::map<std::string, key_history> keys;
  for (auto& op : ops)
    add_operation(keys, op);
  uint64_t explored = 0;
  size_t operations = 0;
  std::vector<std::string> undecided;
  for (auto& [key, h] : keys) {
    std::vector<std::optional<uint64_t>> versions;
    auto direct = direct_violation(key, h, versions);
    if (!direct.empty())
      return {kind, verdict::failed, "a key's history has no legal order",
              direct};
    auto unseen_write_call = drop_unseen_unknown_writes(h);
    operations += h.ops.size();
    key_search search(h.ops, versions, unseen_write_call, max_states);
    auto r = search.run();
    explored += search.explored();
    if (r == key_search::result::unknown) {
      undecided.push_back(key);
    } else if (r == key_search::result::illegal) {
      std::string example = "key " + key + ": no order of its "
        + std::to_string(search.answered())
        + " answered operations is legal; the longest "
          "legal prefix places "
        + std::to_string(search.best_depth());
      if (auto* b = search.blocked())
        example += ", and nothing explains " + describe(*b->source);
      return {kind, verdict::failed, "a key's history has no legal order",
              example};
    }
  }
  auto summary = std::to_string(keys.size()) + " keys, "
    + std::to_string(operations) + " operations, " + std::to_string(explored)
    + " states explored";
  if (!undecided.empty()) {
    std::string list;
    for (auto& k : undecided)
      list += (list.empty() ? "" : ", ") + k;
    return {kind,
            verdict::unknown,
            summary + "; the search bound was hit on " + list,
            {}};
  }
  return {kind, verdict::held, summary, {}};
}

} // namespace prism::simulation
