// Closing the backend clients of brokers that ended off the scheduler's
// threads: a client that blocks while it closes (NATS waits for its fetches
// and a flush) must not hold up the other actors.

#include <atomic>
#include <chrono>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <catch2/catch.hpp>

#include "admin_view.hpp"
#include "pubsub/client_closer.hpp"
#include "pubsub/remote_broker.hpp"
#include "test_gate.hpp"

using namespace prism;
using namespace std::chrono_literals;
using prism::test::eventually;
using prism::test::test_gate;

namespace {

/// Blocks in its destructor until the gate opens; notes the thread.
struct slow_item : closable {
  test_gate& g;
  std::atomic<std::thread::id>& closed_on;
  slow_item(test_gate& g, std::atomic<std::thread::id>& on)
    : g(g), closed_on(on) {}
  ~slow_item() override {
    g.pass();
    closed_on = std::this_thread::get_id();
  }
};

/// A Kafka/NATS client stand-in whose close blocks until the gate opens.
class slow_closing_client final : public drivers::pubsub_driver {
public:
  slow_closing_client(test_gate& g, std::atomic<int>& closed)
    : gate_(g), closed_(closed) {}
  ~slow_closing_client() override {
    gate_.pass();
    ++closed_;
  }
  void start(state_listener listener) override { listener(true, {}); }
  void publish(const std::string&, const model::publish_op&,
               drivers::op_timeout, completion) override {}
  std::unique_ptr<subscription> subscribe(const std::string&,
                                          const model::subscribe_op&,
                                          subscriber_events) override {
    return nullptr;
  }
  std::string describe() const override { return "slow-closing client"; }

private:
  test_gate& gate_;
  std::atomic<int>& closed_;
};

} // namespace

TEST_CASE("the client closer destroys what it is handed on its own thread, "
          "in order, without blocking the caller") {
  test_gate g;
  std::atomic<std::thread::id> closed_on{};
  client_closer closer;
  closer.close(std::make_unique<slow_item>(g, closed_on));
  // The caller is back at once although the item's close blocks.
  CHECK(closer.pending() == 1);
  REQUIRE(g.wait_holding(1));
  CHECK(closer.pending() == 1);
  g.open();
  REQUIRE(eventually([&] { return closer.pending() == 0; }, 10s));
  CHECK(closed_on.load() != std::thread::id{});
  CHECK(closed_on.load() != std::this_thread::get_id());
}

TEST_CASE("the client closer closes what is still queued before it ends") {
  test_gate g;
  g.open();
  std::atomic<std::thread::id> a{}, b{};
  {
    client_closer closer;
    closer.close(std::make_unique<slow_item>(g, a));
    closer.close(std::make_unique<slow_item>(g, b));
  }
  CHECK(a.load() != std::thread::id{});
  CHECK(b.load() != std::thread::id{});
}

TEST_CASE("a broker that ends hands its client to the closer: the only "
          "scheduler thread is not held while the client closes") {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 1);
  caf::actor_system sys{cfg};
  test_gate g;
  std::atomic<int> closed{0};
  auto closer = std::make_shared<client_closer>();
  auto handoff = std::make_shared<std::unique_ptr<drivers::pubsub_driver>>(
    std::make_unique<slow_closing_client>(g, closed));
  remote_broker_options options;
  options.backend = "bus";
  options.kind = "nats";
  options.closer = closer;
  auto broker = sys.spawn(remote_broker, handoff, options);
  {
    caf::scoped_actor self{sys};
    self->monitor(broker);
    caf::anon_send_exit(broker, caf::exit_reason::user_shutdown);
    // The broker's end is reported while its client still closes: with the
    // client closed on the spot the one scheduler thread would wait on the
    // gate and no down message would come.
    bool down = false;
    self->receive([&](const caf::down_msg&) { down = true; },
                  caf::after(10s) >> [] {});
    CHECK(down);
    CHECK(closed == 0);
    // Another actor still gets the scheduler's thread.
    auto echo = sys.spawn([]() -> caf::behavior {
      return {[](int x) {
        return x + 1;
      }};
    });
    int got = 0;
    self->request(echo, 10s, 41)
      .receive([&](int x) { got = x; }, [](caf::error&) {});
    CHECK(got == 42);
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  }
  REQUIRE(g.wait_holding(1));
  g.open();
  REQUIRE(eventually([&] { return closer->pending() == 0; }, 10s));
  CHECK(closed == 1);
}
