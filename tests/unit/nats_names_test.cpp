// The NATS driver's names and header encoding (no server needed).

#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "drivers/nats/nats_names.hpp"

namespace names = prism::drivers::nats_names;

TEST_CASE(
  "nats_names: subjects are prefix.namespace.topic, and only valid ones",
  "[nats][unit]") {
  CHECK(names::subject("prism", "orders", "eu.created")
        == "prism.orders.eu.created");
  CHECK(names::subject("", "orders", "x") == "orders.x");
  // Topics the gateway accepts but NATS cannot name: empty tokens.
  CHECK(names::subject("prism", "orders", ".x").empty());
  CHECK(names::subject("prism", "orders", "x.").empty());
  CHECK(names::subject("prism", "orders", "a..b").empty());
  CHECK(names::valid_subject("a.b-c_d"));
  CHECK_FALSE(names::valid_subject("a.*"));
  CHECK_FALSE(names::valid_subject("a.>"));
  CHECK_FALSE(names::valid_subject("a b"));
  CHECK_FALSE(names::valid_subject(""));
}

TEST_CASE("nats_names: streams hold their namespace's subjects",
          "[nats][unit]") {
  CHECK(names::stream_name("PRISM_", "orders") == "PRISM_orders");
  CHECK(names::stream_name("PRISM_", "a.b c") == "PRISM_a_b_c");
  CHECK(names::stream_subjects("prism", "orders") == "prism.orders.>");
  CHECK(names::subject_covers("prism.orders.>", "prism.orders.>"));
  CHECK(names::subject_covers("prism.>", "prism.orders.>"));
  CHECK(names::subject_covers(">", "prism.orders.>"));
  CHECK(names::subject_covers("prism.*.>", "prism.orders.>"));
  CHECK_FALSE(names::subject_covers("prism.orders.*", "prism.orders.>"));
  CHECK_FALSE(names::subject_covers("prism.orders", "prism.orders.>"));
  CHECK_FALSE(names::subject_covers("prism.other.>", "prism.orders.>"));
  CHECK(names::subject_covers("a.b", "a.b"));
  CHECK_FALSE(names::subject_covers("a.b.c", "a.b"));
}

TEST_CASE("nats_names: durable names are valid, stable and distinct",
          "[nats][unit]") {
  CHECK(names::durable_name("a.b", "x_y") == "a_db_sx_uy");
  // Pairs that would collide with a naive join stay apart.
  std::set<std::string> seen;
  for (auto [topic, sub] : {std::pair{"a_s", "b"},
                            {"a", "s_b"},
                            {"a.b", "c"},
                            {"a_b", "c"},
                            {"a", "b.c"},
                            {"a", "b_c"}}) {
    auto name = names::durable_name(topic, sub);
    CHECK(name.find('.') == std::string::npos);
    CHECK(seen.insert(name).second);
  }
  std::string long_topic(249, 't');
  std::string long_sub(249, '.');
  auto name = names::durable_name(long_topic, long_sub);
  CHECK(name.size() <= names::durable_name_max);
  CHECK(name == names::durable_name(long_topic, long_sub));
  CHECK(name != names::durable_name(long_topic, long_sub.substr(1)));
}

TEST_CASE("nats_names: metadata survives the trip through headers",
          "[nats][unit]") {
  for (std::string value :
       {std::string{}, std::string{"plain"}, std::string{" lead and trail "},
        std::string{"line\r\nbreak: 100% \x01\x7f"}, std::string{"caf\xc3\xa9"},
        std::string{"%"}, std::string{"%41"}}) {
    auto encoded = names::encode_value(value);
    CHECK_FALSE(encoded.empty());
    for (unsigned char c : encoded)
      CHECK((c > 0x20 && c < 0x7f));
    CHECK(names::decode_value(encoded) == value);
  }
  std::string key;
  auto header = names::metadata_header("weird: key %");
  CHECK(header.find(':') == std::string::npos);
  CHECK(header.find(' ') == std::string::npos);
  REQUIRE(names::metadata_key_of(header, key));
  CHECK(key == "weird: key %");
  REQUIRE(names::metadata_key_of(names::metadata_header(""), key));
  CHECK(key.empty());
  CHECK_FALSE(names::metadata_key_of("X-Other", key));
  CHECK(names::reserved_header("Nats-Msg-Id"));
  CHECK(names::reserved_header(names::id_header));
  CHECK_FALSE(names::reserved_header("X-Other"));
}

TEST_CASE("nats_names: URLs lose their credentials", "[nats][unit]") {
  CHECK(names::without_credentials("nats://127.0.0.1:4222")
        == "nats://127.0.0.1:4222");
  CHECK(names::without_credentials("nats://s3cret@h:4222") == "nats://h:4222");
  CHECK(names::without_credentials("nats://u:p@ss@h:1,tls://t@k:2/x")
        == "nats://h:1,tls://k:2/x");
  CHECK(names::without_credentials("h:4222") == "h:4222");
}
