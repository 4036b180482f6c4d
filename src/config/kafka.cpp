// The keys of a kafka backend: its brokers, the topics it creates, and the
// librdkafka properties it may pass on.

#include <algorithm>
#include <cctype>
#include <memory>

#include <librdkafka/rdkafka.h>

#include "config/checker.hpp"
#include "config/sections.hpp"
#include "config/text.hpp"

namespace prism::config::detail {

namespace {

/// Settings Prism makes itself on its Kafka clients, which `properties`
/// may not change, with the reason.
const std::vector<std::pair<std::string, std::string>> kafka_fixed_properties
  = {
    {"bootstrap.servers", "set brokers: instead"},
    {"acks", "the producer always waits for all in-sync replicas (acks=all)"},
    {"request.required.acks",
     "the producer always waits for all in-sync replicas (acks=all)"},
    {"enable.idempotence", "the producer is always idempotent"},
    {"group.id", "named subscriptions choose their consumer group"},
    {"enable.auto.commit",
     "offsets are committed only for messages written to the subscriber"},
    {"enable.auto.offset.store",
     "offsets are committed only for messages written to the subscriber"},
    {"auto.offset.reset",
     "the subscriber's start position (LATEST or EARLIEST) decides"},
};

/// How to write brokers:, for hints.
constexpr const char* brokers_hint
  = "give host:port of one or more brokers, e.g. brokers: 127.0.0.1:9092 or "
    "brokers: [kafka-1:9092, kafka-2:9092]";

/// Reads brokers: (entry `v`), a list of host:port or one string of them
/// separated by commas. Leaves `out` alone on a problem.
void check_brokers(checker& c, const section& s, const entry& v,
                   kafka_options& out) {
  std::vector<std::pair<YAML::Node, std::string>> items;
  if (v.value.IsSequence()) {
    for (size_t i = 0; i < v.value.size(); ++i) {
      YAML::Node item = v.value[i];
      if (!item.IsScalar() || item.Scalar().empty())
        c.report(c.at(item.IsNull() ? v.value : item),
                 s.path("brokers") + "[" + std::to_string(i) + "]",
                 "expected host:port, got " + describe(item), brokers_hint);
      else
        items.emplace_back(item, item.Scalar());
    }
    if (v.value.size() == 0)
      c.report(c.at(v.value), s.path("brokers"), "lists no broker",
               brokers_hint);
  } else {
    std::string text;
    if (c.text(v, s.path("brokers"), text, brokers_hint)) {
      size_t from = 0;
      while (from <= text.size()) {
        size_t comma = text.find(',', from);
        std::string one = text.substr(
          from, comma == std::string::npos ? std::string::npos : comma - from);
        while (!one.empty()
               && std::isspace(static_cast<unsigned char>(one.front())))
          one.erase(0, 1);
        while (!one.empty()
               && std::isspace(static_cast<unsigned char>(one.back())))
          one.pop_back();
        items.emplace_back(v.value, one);
        if (comma == std::string::npos)
          break;
        from = comma + 1;
      }
    }
  }
  std::vector<std::string> good;
  for (const auto& [node, one] : items) {
    std::string host;
    uint16_t port = 0;
    if (one.find("://") != std::string::npos
        || !split_host_port(one, host, port) || port == 0)
      c.report(c.at(node), s.path("brokers"),
               "broker address " + quote(one) + " is not host:port",
               brokers_hint);
    else
      good.push_back(one);
  }
  if (good.size() == items.size() && !good.empty())
    out.brokers = join(good, ",");
}

/// Reads properties: (entry `v`), librdkafka properties that librdkafka
/// takes and that Prism does not set itself.
void check_properties(checker& c, const section& s, const entry& v,
                      kafka_options& out) {
  section ps = c.open(v.value, s.path("properties"), c.at(v.key),
                      "a map from librdkafka property to value", "property");
  // librdkafka itself tells whether it knows a property and takes its
  // value, as it will when the backend starts.
  std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)> probe{
    rd_kafka_conf_new(), &rd_kafka_conf_destroy};
  for (const auto& p : ps.items) {
    auto fixed = std::find_if(kafka_fixed_properties.begin(),
                              kafka_fixed_properties.end(),
                              [&](const auto& f) { return f.first == p.name; });
    if (fixed != kafka_fixed_properties.end()) {
      c.report(c.at(p.key), ps.path(p.name),
               quote(p.name) + " is set by Prism and cannot be changed",
               "remove it: " + fixed->second);
      continue;
    }
    if (!p.value.IsScalar() || p.value.Scalar().empty()) {
      c.report(
        c.at_value(p), ps.path(p.name),
        "expected a value, got " + describe(p.value),
        "librdkafka properties are strings, e.g. security.protocol: ssl");
      continue;
    }
    // Setting plugin.library.paths loads and runs the plugins: not while
    // checking a file.
    char why[512] = "";
    if (p.name != "plugin.library.paths"
        && rd_kafka_conf_set(probe.get(), p.name.c_str(),
                             p.value.Scalar().c_str(), why, sizeof why)
          != RD_KAFKA_CONF_OK) {
      c.report(
        c.at_value(p), ps.path(p.name),
        std::string{"librdkafka refuses it: "} + why,
        "see librdkafka's CONFIGURATION.md for its properties and their values");
      continue;
    }
    out.properties[p.name] = p.value.Scalar();
  }
}

} // namespace

void check_kafka(checker& c, const section& s, bool known_type,
                 kafka_options& out) {
  if (const entry* v = s.find("brokers"))
    check_brokers(c, s, *v, out);
  else if (known_type)
    c.missing(s, "brokers",
              std::string{"add brokers: with the bootstrap servers; "}
                + brokers_hint);

  if (const entry* v = s.find("topic_prefix")) {
    if (v->value.IsScalar() && v->value.Scalar().empty()) {
      out.topic_prefix.clear();
    } else if (std::string prefix; c.text(*v, s.path("topic_prefix"), prefix,
                                          "e.g. topic_prefix: prism.")) {
      if (prefix.size() > 200 || !only_name_chars(prefix, "._-"))
        c.report(
          c.at(v->value), s.path("topic_prefix"),
          "invalid topic prefix " + quote(prefix),
          "Kafka topic names use letters, digits, '.', '_' and '-'; keep the prefix under 200 characters, "
          "e.g. prism.");
      else
        out.topic_prefix = prefix;
    }
  }
  if (const entry* v = s.find("partitions"))
    c.number(
      *v, s.path(v->name), 1, 10000, out.partitions,
      "use 1..10000 partitions for the topics Prism creates (order is kept per partition)");
  if (const entry* v = s.find("replication_factor")) {
    if (v->value.IsScalar() && v->value.Scalar() == "-1")
      out.replication_factor = -1;
    else
      c.number(*v, s.path(v->name), 1, 32767, out.replication_factor,
               "use 1..32767 replicas, or -1 for the brokers' default");
  }
  if (const entry* v = s.find("properties"))
    check_properties(c, s, *v, out);
}

} // namespace prism::config::detail
