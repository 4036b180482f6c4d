#include "model/validate.hpp"

#include <fmt/format.h>

#include "config/defaults.hpp"

namespace prism::model {

namespace {

status invalid(std::string message) {
  return status::failure(status_code::invalid_argument, std::move(message));
}

status check_key(const std::string& key, const char* field) {
  if (key.empty())
    return invalid(fmt::format("{} is empty; every key needs at least one "
                               "byte",
                               field));
  if (key.size() > defaults::key_bytes_max)
    return invalid(fmt::format("{} is {} bytes long; keys may be at most {} "
                               "bytes",
                               field, key.size(), defaults::key_bytes_max));
  return {};
}

status check_batch_size(size_t size, const char* field) {
  if (size > defaults::batch_keys_max)
    return invalid(fmt::format("{} has {} elements; a batch may have at most "
                               "{}",
                               field, size, defaults::batch_keys_max));
  return {};
}

/// `suffix` names the key within an element (".key" for BatchSet's
/// entries), empty when the elements are the keys.
template <class Keys, class KeyOf>
status check_keys(const Keys& keys, const char* field, KeyOf key_of,
                  const char* suffix = "") {
  if (auto st = check_batch_size(keys.size(), field); !st.ok())
    return st;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto name = fmt::format("{}[{}]{}", field, i, suffix);
    if (auto st = check_key(key_of(keys[i]), name.c_str()); !st.ok())
      return st;
  }
  return {};
}

const std::string& same(const std::string& key) {
  return key;
}

/// Topic and subscription names: what every PubSub backend accepts (Kafka's
/// rule, which NATS subjects also allow).
status check_name(const std::string& name, const char* field) {
  if (name.size() > defaults::topic_name_bytes_max)
    return invalid(fmt::format("{} is {} bytes long; at most {} are allowed",
                               field, name.size(),
                               defaults::topic_name_bytes_max));
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
      || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok)
      return invalid(fmt::format("{} \"{}\" has a character that is not "
                                 "allowed; use letters, digits, '.', '_' and "
                                 "'-'",
                                 field, name));
  }
  if (name == "." || name == "..")
    return invalid(fmt::format("{} may not be \"{}\"", field, name));
  return {};
}

status check_metadata(const metadata& md) {
  if (md.size() > defaults::metadata_entries_max)
    return invalid(fmt::format("metadata has {} entries; at most {} are "
                               "allowed",
                               md.size(), defaults::metadata_entries_max));
  for (auto& [key, value] : md) {
    if (key.empty())
      return invalid("metadata has an empty key");
    if (key.size() + value.size() > defaults::metadata_entry_bytes_max)
      return invalid(fmt::format("metadata entry \"{}\" is {} bytes; at "
                                 "most {} per entry are allowed",
                                 key.substr(0, 64), key.size() + value.size(),
                                 defaults::metadata_entry_bytes_max));
  }
  return {};
}

} // namespace

status validate_request(const std::string& ns, operation& op) {
  if (ns.empty())
    return invalid("namespace is empty; name the namespace to use");
  if (ns.size() > defaults::namespace_name_bytes_max)
    return invalid(fmt::format("namespace is {} bytes long; namespace names "
                               "are at most {} bytes",
                               ns.size(), defaults::namespace_name_bytes_max));
  if (auto* x = std::get_if<get_op>(&op))
    return check_key(x->key, "key");
  if (auto* x = std::get_if<set_op>(&op))
    return check_key(x->key, "key");
  if (auto* x = std::get_if<delete_op>(&op))
    return check_key(x->key, "key");
  if (auto* x = std::get_if<exists_op>(&op))
    return check_key(x->key, "key");
  if (auto* x = std::get_if<batch_get_op>(&op))
    return check_keys(x->keys, "keys", same);
  if (auto* x = std::get_if<batch_delete_op>(&op))
    return check_keys(x->keys, "keys", same);
  if (auto* x = std::get_if<batch_set_op>(&op))
    return check_keys(
      x->entries, "entries",
      [](const entry& e) -> const std::string& { return e.key; }, ".key");
  if (auto* x = std::get_if<publish_op>(&op)) {
    if (x->topic.empty())
      return invalid("topic is empty; name the topic to publish to");
    if (auto st = check_name(x->topic, "topic"); !st.ok())
      return st;
    return check_metadata(x->metadata);
  }
  if (auto* x = std::get_if<subscribe_op>(&op)) {
    if (x->topic.empty())
      return invalid("topic is empty; name the topic to subscribe to");
    if (auto st = check_name(x->topic, "topic"); !st.ok())
      return st;
    if (x->start == start_position::unknown)
      return invalid("start is neither LATEST (0) nor EARLIEST (1)");
    return check_name(x->subscription, "subscription");
  }
  if (auto* x = std::get_if<scan_op>(&op)) {
    if (x->limit == 0)
      x->limit = defaults::scan_limit_default;
    if (x->limit > defaults::scan_limit_max)
      return invalid(fmt::format("limit {} is too large; a scan page holds "
                                 "at most {} items (0 means {})",
                                 x->limit, defaults::scan_limit_max,
                                 defaults::scan_limit_default));
    if (x->prefix.size() > defaults::key_bytes_max
        || x->start_after.size() > defaults::key_bytes_max)
      return invalid(fmt::format("prefix and start_after may be at most {} "
                                 "bytes",
                                 defaults::key_bytes_max));
  }
  return {};
}

} // namespace prism::model
