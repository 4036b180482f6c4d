#include "frontend/pubsub_requests.hpp"

namespace prism::frontend {

model::operation to_operation(const v1::PublishRequest& r) {
  model::metadata md;
  md.reserve(r.metadata().size());
  for (auto& [k, v] : r.metadata())
    md.emplace_back(k, v);
  return model::publish_op{r.topic(), r.payload(), std::move(md)};
}

model::operation to_operation(const v1::SubscribeRequest& r) {
  const auto start = r.start() == v1::EARLIEST ? model::start_position::earliest
    : r.start() == v1::LATEST                  ? model::start_position::latest
                                               : model::start_position::unknown;
  return model::subscribe_op{r.topic(), r.subscription(), start};
}

} // namespace prism::frontend
