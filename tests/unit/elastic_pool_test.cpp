// The admin listener's workers: started as connections need them, ended when
// idle, queued past their limit, all joined at shutdown.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "admin/elastic_pool.hpp"
#include "admin_view.hpp"
#include "test_gate.hpp"

using namespace std::chrono_literals;
using prism::admin::elastic_pool;

using prism::test::eventually;
using prism::test::test_gate;

TEST_CASE("the elastic pool keeps its minimum and grows to its limit under "
          "blocking jobs, queueing the rest",
          "[admin][elastic_pool]") {
  elastic_pool pool{1, 3, 50ms};
  CHECK(pool.threads() == 1);
  test_gate held;
  std::atomic<int> done{0};
  for (int i = 0; i < 4; ++i)
    pool.enqueue([&] {
      held.pass();
      ++done;
    });
  REQUIRE(held.wait_holding(3));
  CHECK(pool.threads() == 3);
  CHECK(pool.queued() == 1);
  held.open();
  REQUIRE(eventually([&] { return done == 4; }, 10s));
  // Idle past 50 ms, the workers beyond the minimum end.
  REQUIRE(eventually([&] { return pool.threads() == 1; }, 10s));
  CHECK(pool.idle() == 1);
}

TEST_CASE("the elastic pool reuses an idle worker instead of starting one",
          "[admin][elastic_pool]") {
  elastic_pool pool{1, 8, 10000ms};
  // Once the first worker waits, each job finds it idle.
  REQUIRE(eventually([&] { return pool.idle() == 1; }, 10s));
  std::atomic<int> done{0};
  for (int i = 0; i < 20; ++i) {
    pool.enqueue([&] { ++done; });
    REQUIRE(eventually([&] { return done == i + 1 && pool.idle() == 1; }, 10s));
  }
  CHECK(pool.threads() == 1);
}

TEST_CASE("shutting the elastic pool down runs what is queued and ends every "
          "worker",
          "[admin][elastic_pool]") {
  std::atomic<int> done{0};
  {
    elastic_pool pool{0, 1, 10000ms};
    CHECK(pool.threads() == 0);
    test_gate held;
    pool.enqueue([&] {
      held.pass();
      ++done;
    });
    for (int i = 0; i < 5; ++i)
      pool.enqueue([&] { ++done; });
    REQUIRE(held.wait_holding(1));
    CHECK(pool.threads() == 1);
    CHECK(pool.queued() == 5);
    held.open();
    pool.shutdown();
    CHECK(done == 6);
    CHECK(pool.threads() == 0);
    pool.enqueue([&] { ++done; });
    CHECK(pool.queued() == 0);
  }
  CHECK(done == 6);
}
