#include "fake_pubsub.hpp"

#include <stdexcept>

namespace prism::testing {

namespace {

class fake_subscription final : public drivers::pubsub_driver::subscription {
public:
  explicit fake_subscription(
    std::shared_ptr<fake_pubsub_backend::subscription_record> record)
    : record_(std::move(record)) {}
  ~fake_subscription() override { record_->closed = true; }
  void request(uint32_t n) override { record_->credit += n; }
  void ack(uint64_t tag) override { record_->acked.push_back(tag); }

private:
  std::shared_ptr<fake_pubsub_backend::subscription_record> record_;
};

class fake_client final : public drivers::pubsub_driver {
public:
  explicit fake_client(std::shared_ptr<fake_pubsub_backend> backend)
    : backend_(std::move(backend)) {
    ++backend_->clients_made;
  }
  ~fake_client() override {
    ++backend_->clients_destroyed;
    backend_->listener = nullptr;
  }

  void start(state_listener listener) override {
    backend_->listener = std::move(listener);
  }

  void publish(const std::string& ns, const model::publish_op& op,
               drivers::op_timeout timeout, completion done) override {
    backend_->publishes.push_back({ns, op, timeout, std::move(done)});
  }

  std::unique_ptr<subscription> subscribe(const std::string& ns,
                                          const model::subscribe_op& op,
                                          subscriber_events events) override {
    auto record = std::make_shared<fake_pubsub_backend::subscription_record>();
    record->ns = ns;
    record->op = op;
    record->events = std::move(events);
    backend_->subscriptions.push_back(record);
    return std::make_unique<fake_subscription>(record);
  }

  std::string describe() const override { return "fake pubsub"; }

private:
  std::shared_ptr<fake_pubsub_backend> backend_;
};

} // namespace

void fake_pubsub_backend::answer_publish(model::outcome outcome) {
  if (publishes.empty())
    throw std::logic_error("no publish is waiting for an answer");
  auto done = std::move(publishes.front().done);
  publishes.erase(publishes.begin());
  done(std::move(outcome));
}

void fake_pubsub_backend::report(bool up, const std::string& reason) {
  if (!listener)
    throw std::logic_error("no fake pubsub client was started");
  listener(up, reason);
}

std::vector<std::shared_ptr<fake_pubsub_backend::subscription_record>>
fake_pubsub_backend::open_subscriptions() const {
  std::vector<std::shared_ptr<subscription_record>> out;
  for (auto& s : subscriptions)
    if (!s->closed)
      out.push_back(s);
  return out;
}

drivers::pubsub_driver_factory fake_pubsub_factory(
  std::shared_ptr<fake_pubsub_backend> backend) {
  return [backend](const config::backend&) -> drivers::pubsub_driver_ptr {
    return std::make_unique<fake_client>(backend);
  };
}

} // namespace prism::testing
