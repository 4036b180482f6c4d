// What each KeyValue and PubSub request becomes as an operation: the one
// conversion the services (and the request fuzzers) use.

#include <catch2/catch.hpp>

#include <variant>

#include "frontend/keyvalue_requests.hpp"
#include "frontend/pubsub_requests.hpp"

using namespace prism;
using frontend::to_operation;

TEST_CASE("requests: a Set carries its compare-and-set version only when "
          "the client sent one") {
  v1::SetRequest set;
  set.set_key("k");
  set.set_value("v");
  set.set_ttl_ms(1500);
  auto op = std::get<model::set_op>(to_operation(set));
  CHECK(op.key == "k");
  CHECK(op.value == "v");
  CHECK(op.ttl_ms == 1500);
  CHECK_FALSE(op.if_version.has_value());
  // 0 is a version ("only if absent"), not the absence of one.
  set.set_if_version(0);
  op = std::get<model::set_op>(to_operation(set));
  REQUIRE(op.if_version.has_value());
  CHECK(*op.if_version == 0);
}

TEST_CASE("requests: batches keep their order and duplicates, a scan its "
          "fields as sent") {
  v1::BatchSetRequest batch;
  for (auto key : {"b", "a", "b"}) {
    auto* e = batch.add_entries();
    e->set_key(key);
    e->set_value(std::string{key} + "!");
  }
  batch.mutable_entries(2)->set_ttl_ms(9);
  auto op = std::get<model::batch_set_op>(to_operation(batch));
  REQUIRE(op.entries.size() == 3);
  CHECK(op.entries[0].key == "b");
  CHECK(op.entries[1].value == "a!");
  CHECK(op.entries[2].ttl_ms == 9);

  v1::BatchGetRequest get;
  get.add_keys("x");
  get.add_keys("x");
  CHECK(std::get<model::batch_get_op>(to_operation(get)).keys.size() == 2);

  v1::ScanRequest scan;
  scan.set_prefix("p");
  scan.set_start_after("p1");
  scan.set_keys_only(true);
  auto s = std::get<model::scan_op>(to_operation(scan));
  CHECK(s.prefix == "p");
  CHECK(s.start_after == "p1");
  // 0 stays 0 here: validation turns it into the default page size.
  CHECK(s.limit == 0);
  CHECK(s.keys_only);
}

TEST_CASE("requests: a Subscribe's start position the API does not define "
          "is unknown, and a Publish keeps its metadata") {
  v1::SubscribeRequest sub;
  sub.set_topic("t");
  sub.set_subscription("billing");
  CHECK(std::get<model::subscribe_op>(to_operation(sub)).start
        == model::start_position::latest);
  sub.set_start(v1::EARLIEST);
  CHECK(std::get<model::subscribe_op>(to_operation(sub)).start
        == model::start_position::earliest);
  sub.set_start(static_cast<v1::StartPosition>(7));
  auto op = std::get<model::subscribe_op>(to_operation(sub));
  CHECK(op.start == model::start_position::unknown);
  CHECK(op.subscription == "billing");

  v1::PublishRequest pub;
  pub.set_topic("t");
  pub.set_payload(std::string("a\0b", 3));
  (*pub.mutable_metadata())["k"] = "v";
  auto p = std::get<model::publish_op>(to_operation(pub));
  CHECK(p.payload.size() == 3);
  REQUIRE(p.metadata.size() == 1);
  CHECK(p.metadata[0] == std::pair<std::string, std::string>{"k", "v"});
}
