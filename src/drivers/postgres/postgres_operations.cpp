// The KeyValue operations on one PostgreSQL connection.

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "drivers/postgres/postgres_session.hpp"
#include "model/keys.hpp"

namespace prism::drivers {

using namespace postgres_detail;

namespace {

/// {"\\x0102",...}: a bytea[] in PostgreSQL's text form (hex bytes).
template <class Range, class Bytes>
std::string bytea_array(const Range& items, Bytes bytes_of) {
  static const char digits[] = "0123456789abcdef";
  size_t size = 2;
  for (const auto& it : items)
    size += bytes_of(it).size() * 2 + 6;
  std::string out;
  out.reserve(size);
  out += '{';
  bool first = true;
  for (const auto& it : items) {
    if (!first)
      out += ',';
    first = false;
    out += "\"\\\\x";
    for (unsigned char c : bytes_of(it)) {
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string bigint_array(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

std::string bytes_of(const pqxx::field& f) {
  pqxx::binarystring b{f};
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// A byte count as a bigint parameter (a limit past its range is none).
int64_t as_bigint(uint64_t bytes) {
  return static_cast<int64_t>(
    std::min<uint64_t>(bytes, std::numeric_limits<int64_t>::max()));
}

} // namespace

model::outcome postgres_session::do_get(const std::string& ns,
                                        const model::get_op& op, int64_t now) {
  statement_scope q{*this, false};
  auto rows = q.exec("get", ns, pqxx::binarystring{op.key}, now);
  q.commit();
  model::get_result r;
  if (!rows.empty()) {
    r.found = true;
    r.value = bytes_of(rows[0][0]);
    r.version = rows[0][1].as<uint64_t>();
  }
  return model::outcome::success(std::move(r));
}

model::outcome postgres_session::do_exists(const std::string& ns,
                                           const model::exists_op& op,
                                           int64_t now) {
  statement_scope q{*this, false};
  auto rows = q.exec("exists", ns, pqxx::binarystring{op.key}, now);
  q.commit();
  model::exists_result r;
  r.exists = !rows.empty();
  return model::outcome::success(r);
}

model::outcome postgres_session::do_batch_get(const std::string& ns,
                                              const model::batch_get_op& op,
                                              int64_t now) {
  model::batch_get_result r;
  r.items.reserve(op.keys.size());
  if (op.keys.empty())
    return model::outcome::success(std::move(r));
  std::vector<std::string_view> keys(op.keys.begin(), op.keys.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  // One statement: every key is read from the same snapshot.
  statement_scope q{*this, false};
  const int64_t limit = as_bigint(op.answer_bytes_max);
  auto rows = q.exec("batch_get", ns,
                     bytea_array(keys, [](std::string_view k) { return k; }),
                     now, limit);
  q.commit();
  // Each key once is already too much: so is the answer.
  if (rows.size() > 1 && rows[0][3].as<int64_t>() > limit)
    return model::batch_get_too_large(op);
  std::map<std::string, std::pair<std::string, uint64_t>, model::bytewise_less>
    found;
  for (const auto& row : rows)
    found.emplace(bytes_of(row[0]),
                  std::make_pair(bytes_of(row[1]), row[2].as<uint64_t>()));
  model::answer_budget budget{op.answer_bytes_max};
  for (const auto& key : op.keys) {
    model::item it;
    it.key = key;
    auto f = found.find(key);
    if (f != found.end()) {
      if (!budget.take(key.size() + f->second.first.size()))
        return model::batch_get_too_large(op);
      it.found = true;
      it.value = f->second.first;
      it.version = f->second.second;
    }
    r.items.push_back(std::move(it));
  }
  return model::outcome::success(std::move(r));
}

model::outcome postgres_session::do_scan(const std::string& ns,
                                         const model::scan_op& op,
                                         int64_t now) {
  const uint32_t limit = model::effective_scan_limit(op);
  const bool after = !op.start_after.empty()
    && op.start_after.compare(op.prefix) >= 0;
  const auto upper = model::prefix_successor(op.prefix);
  const std::string name = std::string("scan_") + (after ? "1" : "0")
    + (upper ? "1" : "0") + (op.keys_only ? "1" : "0");
  pqxx::binarystring lower{after ? op.start_after : op.prefix};
  const int64_t rows_wanted = static_cast<int64_t>(limit) + 1;
  const int64_t answer_max = as_bigint(op.answer_bytes_max);
  statement_scope q{*this, false};
  pqxx::result rows;
  if (op.keys_only)
    rows = upper ? q.exec(name.c_str(), ns, lower, now, rows_wanted,
                          pqxx::binarystring{*upper})
                 : q.exec(name.c_str(), ns, lower, now, rows_wanted);
  else
    rows = upper
      ? q.exec(name.c_str(), ns, lower, now, rows_wanted,
               pqxx::binarystring{*upper}, answer_max)
      : q.exec(name.c_str(), ns, lower, now, rows_wanted, answer_max);
  q.commit();
  model::scan_result r;
  r.items.reserve(std::min<size_t>(rows.size(), limit));
  uint64_t bytes = 0;
  for (const auto& row : rows) {
    model::item it;
    it.key = bytes_of(row[0]);
    // With values, the server's running count decides (and sent no value
    // past the limit); keys only, the keys count.
    const uint64_t through = op.keys_only ? bytes + it.key.size()
                                          : row[3].as<uint64_t>();
    if (r.items.size() == limit
        || (!r.items.empty() && through > op.answer_bytes_max)) {
      r.next_start_after = r.items.back().key;
      break;
    }
    bytes = through;
    if (!op.keys_only)
      it.value = bytes_of(row[2]);
    it.found = true;
    it.version = row[1].as<uint64_t>();
    r.items.push_back(std::move(it));
  }
  return model::outcome::success(std::move(r));
}

model::outcome postgres_session::do_set(const std::string& ns,
                                        const model::set_op& op, int64_t now) {
  const int64_t expires_at = model::expiry_for(now, op.ttl_ms);
  statement_scope q{*this, true};
  model::set_result r;
  if (!op.if_version) {
    auto rows = q.exec("set", ns, pqxx::binarystring{op.key},
                       pqxx::binarystring{op.value}, expires_at);
    r.version = rows.at(0).at(0).as<uint64_t>();
    q.commit();
    return model::outcome::success(r);
  }
  // Compare-and-set: take the namespace's next version first, which locks
  // its counter row, so no other write of the namespace runs between the
  // check and the write; read the key (a fresh snapshot, taken after the
  // lock, so it sees every write committed before); lock its row against a
  // concurrent Delete. On a mismatch the transaction rolls back, the
  // reserved version with it.
  const uint64_t version
    = q.exec("reserve", ns, int64_t{1}).at(0).at(0).as<uint64_t>();
  std::optional<uint64_t> current;
  {
    auto rows = q.exec("current", ns, pqxx::binarystring{op.key});
    if (!rows.empty() && model::is_live(rows[0][1].as<int64_t>(), now))
      current = rows[0][0].as<uint64_t>();
  }
  const bool match = *op.if_version == 0 ? !current.has_value()
                                         : current == *op.if_version;
  if (!match)
    return model::outcome::failure(
      status_code::failed_precondition,
      model::version_mismatch_message(op.key, *op.if_version, current));
  q.exec("put", ns, pqxx::binarystring{op.key}, pqxx::binarystring{op.value},
         static_cast<int64_t>(version), expires_at);
  q.commit();
  r.version = version;
  return model::outcome::success(r);
}

model::outcome postgres_session::do_delete(const std::string& ns,
                                           const model::delete_op& op,
                                           int64_t now) {
  statement_scope q{*this, true};
  auto rows = q.exec("delete", ns, pqxx::binarystring{op.key});
  q.commit();
  model::delete_result r;
  for (const auto& row : rows)
    r.existed = r.existed || model::is_live(row[0].as<int64_t>(), now);
  return model::outcome::success(r);
}

model::outcome postgres_session::do_batch_set(const std::string& ns,
                                              const model::batch_set_op& op,
                                              int64_t now) {
  model::batch_set_result r;
  if (op.entries.empty())
    return model::outcome::success(std::move(r));
  const uint64_t n = op.entries.size();
  // The last entry for a key wins; rows are written in key order, so two
  // batches lock shared keys in the same order and cannot deadlock.
  std::map<std::string_view, size_t, model::bytewise_less> last;
  for (size_t i = 0; i < op.entries.size(); ++i)
    last[op.entries[i].key] = i;
  statement_scope q{*this, true};
  const uint64_t top
    = q.exec("reserve", ns, static_cast<int64_t>(n)).at(0).at(0).as<uint64_t>();
  const uint64_t first = top - n + 1;
  std::vector<const model::entry*> rows;
  std::vector<int64_t> versions;
  std::vector<int64_t> expiries;
  rows.reserve(last.size());
  for (const auto& [key, i] : last) {
    rows.push_back(&op.entries[i]);
    versions.push_back(static_cast<int64_t>(first + i));
    expiries.push_back(model::expiry_for(now, op.entries[i].ttl_ms));
  }
  q.exec(
    "put_many", ns,
    bytea_array(
      rows, [](const model::entry* e) -> std::string_view { return e->key; }),
    bytea_array(
      rows, [](const model::entry* e) -> std::string_view { return e->value; }),
    bigint_array(versions), bigint_array(expiries));
  q.commit();
  r.versions.reserve(n);
  for (uint64_t i = 0; i < n; ++i)
    r.versions.push_back(first + i);
  return model::outcome::success(std::move(r));
}

model::outcome postgres_session::do_batch_delete(
  const std::string& ns, const model::batch_delete_op& op, int64_t now) {
  model::batch_delete_result r;
  if (op.keys.empty())
    return model::outcome::success(r);
  std::vector<std::string_view> keys(op.keys.begin(), op.keys.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  statement_scope q{*this, true};
  auto rows = q.exec("delete_many", ns,
                     bytea_array(keys, [](std::string_view k) { return k; }));
  q.commit();
  for (const auto& row : rows)
    if (model::is_live(row[0].as<int64_t>(), now))
      ++r.deleted;
  return model::outcome::success(r);
}

} // namespace prism::drivers
