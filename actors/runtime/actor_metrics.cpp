#include "runtime/actor_metrics.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

namespace prism {

namespace {

struct kind_totals {
  uint64_t count = 0;
  uint64_t depth = 0;
  uint64_t high_water = 0;
  uint64_t admitted = 0;
  uint64_t rejected = 0;
};

struct stream_totals {
  uint64_t streams = 0;
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t buffered = 0;
};

metric_family gauge(std::string name, std::string help) {
  return metric_family{
    std::move(name), std::move(help), metric_type::gauge, {}};
}

void add(metric_family& family, const char* label, const std::string& value,
         uint64_t n) {
  family.samples.push_back({{{label, value}}, static_cast<double>(n)});
}

} // namespace

metric_report actor_metrics(const std::vector<actor_info>& actors) {
  std::map<std::string, kind_totals> kinds;
  std::map<std::string, uint64_t> restarts;
  std::map<std::string, stream_totals> streams;
  for (const auto& a : actors) {
    auto& k = kinds[a.kind];
    ++k.count;
    k.depth += a.mailbox_depth;
    k.high_water = std::max(k.high_water, a.mailbox_high_water);
    k.admitted += a.admitted;
    k.rejected += a.rejected;
    if (a.kind == "supervisor")
      restarts[a.name] += a.restarts;
    if (a.kind == "subscription") {
      // Named "<namespace>/<topic>[/<subscription>]".
      auto& s = streams[a.name.substr(0, a.name.find('/'))];
      ++s.streams;
      s.delivered += a.admitted;
      s.dropped += a.rejected;
      s.buffered += a.mailbox_depth;
    }
  }

  auto count = gauge("prism_actors", "Live actors, by kind.");
  auto depth = gauge("prism_actor_mailbox_depth",
                     "Messages waiting in the mailboxes of the live actors "
                     "of a kind (as their admission counts them).");
  auto high = gauge("prism_actor_mailbox_high_water",
                    "The deepest mailbox any live actor of a kind has had.");
  auto admitted = gauge("prism_actor_admitted",
                        "Messages the live actors of a kind admitted to "
                        "their mailboxes since they started.");
  auto rejected = gauge("prism_actor_rejected",
                        "Messages the live actors of a kind refused (a full "
                        "mailbox, an open circuit, a dropped PubSub message) "
                        "since they started.");
  for (const auto& [kind, k] : kinds) {
    add(count, "kind", kind, k.count);
    add(depth, "kind", kind, k.depth);
    add(high, "kind", kind, k.high_water);
    add(admitted, "kind", kind, k.admitted);
    add(rejected, "kind", kind, k.rejected);
  }

  auto restarted = gauge("prism_supervisor_restarts",
                         "Restarts a live supervisor has carried out.");
  for (const auto& [name, n] : restarts)
    add(restarted, "supervisor", name, n);

  auto open = gauge("prism_pubsub_streams", "Open subscriber streams.");
  auto delivered = gauge("prism_pubsub_delivered",
                         "Messages handed to the open subscriber streams of "
                         "a namespace since they opened.");
  auto dropped = gauge("prism_pubsub_dropped",
                       "Messages the open ephemeral subscriber streams of a "
                       "namespace dropped because their reader fell behind.");
  auto buffered = gauge("prism_pubsub_buffered",
                        "Messages waiting in the gateway for the open "
                        "subscriber streams of a namespace to take them.");
  for (const auto& [ns, s] : streams) {
    add(open, "namespace", ns, s.streams);
    add(delivered, "namespace", ns, s.delivered);
    add(dropped, "namespace", ns, s.dropped);
    add(buffered, "namespace", ns, s.buffered);
  }

  // Families without samples are left out when rendered.
  return {count,     depth, high,      admitted, rejected,
          restarted, open,  delivered, dropped,  buffered};
}

} // namespace prism
