#include "pubsub/lag_board.hpp"

#include <algorithm>

namespace prism {

pubsub_lag_board::entry_ptr pubsub_lag_board::track(
  const std::string& ns, const std::string& topic,
  const std::string& subscription) {
  auto made = std::make_shared<entry>();
  key k{ns, topic, subscription};
  std::lock_guard<std::mutex> lock{mutex_};
  auto [from, to] = entries_.equal_range(k);
  for (auto i = from; i != to;)
    i = i->second.expired() ? entries_.erase(i) : std::next(i);
  entries_.emplace(std::move(k), made);
  return made;
}

metric_report pubsub_lag_board::report() const {
  metric_family lag{
    "prism_pubsub_lag",
    "Messages published to a topic that a named subscription has not "
    "consumed yet (not yet written to one of its subscribers), as last "
    "measured: memory: in the broker's log; Kafka: end offset minus commit "
    "point over the partitions this gateway reads; JetStream: the durable "
    "consumer's pending and unacknowledged messages.",
    metric_type::gauge,
    {}};
  std::lock_guard<std::mutex> lock{mutex_};
  auto i = entries_.begin();
  while (i != entries_.end()) {
    const auto& k = i->first;
    int64_t largest = -1;
    auto end = entries_.upper_bound(k);
    while (i != end) {
      if (auto e = i->second.lock()) {
        largest = std::max(largest, e->get());
        ++i;
      } else {
        i = entries_.erase(i);
      }
    }
    if (largest >= 0)
      lag.samples.push_back({{{"namespace", std::get<0>(k)},
                              {"subscription", std::get<2>(k)},
                              {"topic", std::get<1>(k)}},
                             static_cast<double>(largest)});
  }
  return {std::move(lag)};
}

} // namespace prism
