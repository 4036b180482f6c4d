// The KeyValue API as a client sees it: the real `prism` binary on free
// loopback ports, spoken to over gRPC. Each test case starts its own gateway
// with the standard config (cache: memory, default: sqlite, small: memory
// with max_value_bytes 1024, events: pubsub).

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway_process.hpp"

using namespace prism::test;
using namespace std::chrono_literals;
using grpc::StatusCode;
using steady = std::chrono::steady_clock;

namespace {

/// The namespaces that hold keys: one per backend kind.
const std::vector<std::string> data_namespaces = {"cache", "default"};

struct gateway_fixture {
  gateway_process gateway;
  kv_client kv;

  gateway_fixture() : kv(start_and_connect(gateway)) {}

  static std::shared_ptr<grpc::Channel> start_and_connect(gateway_process& g) {
    g.start();
    return g.channel();
  }
};

#define REQUIRE_OK(call)                                                       \
  do {                                                                         \
    const auto& reply_ = (call);                                               \
    INFO(#call " -> " << describe(reply_.status));                             \
    REQUIRE(reply_.status.ok());                                               \
  } while (false)

#define CHECK_CODE(call, expected)                                             \
  do {                                                                         \
    const auto& reply_ = (call);                                               \
    INFO(#call " -> " << describe(reply_.status));                             \
    CHECK(reply_.status.error_code() == (expected));                           \
  } while (false)

std::string bytes_of_size(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string value(size, '\0');
  for (auto& c : value)
    c = static_cast<char>(random() & 0xff);
  return value;
}

std::vector<std::string> keys_of(
  const google::protobuf::RepeatedPtrField<prism::v1::Item>& items) {
  std::vector<std::string> keys;
  for (const auto& item : items)
    keys.push_back(item.key());
  return keys;
}

prism::v1::ScanRequest scan_request(const std::string& ns,
                                    const std::string& prefix,
                                    const std::string& start_after = "",
                                    uint32_t limit = 0,
                                    bool keys_only = false) {
  prism::v1::ScanRequest req;
  req.set_namespace_(ns);
  req.set_prefix(prefix);
  req.set_start_after(start_after);
  req.set_limit(limit);
  req.set_keys_only(keys_only);
  return req;
}

/// Scans a whole prefix page by page; returns the keys, counts the pages.
std::vector<std::string> scan_all(kv_client& kv, const std::string& ns,
                                  const std::string& prefix, uint32_t limit,
                                  std::vector<size_t>& page_sizes,
                                  size_t max_pages = 100) {
  std::vector<std::string> keys;
  std::string start_after;
  for (size_t page = 0; page < max_pages; ++page) {
    auto r = kv.scan(scan_request(ns, prefix, start_after, limit, true));
    INFO("scan page " << page << " after '" << start_after << "' -> "
                      << describe(r.status));
    REQUIRE(r.ok());
    page_sizes.push_back(static_cast<size_t>(r.response.items_size()));
    for (const auto& item : r.response.items())
      keys.push_back(item.key());
    if (r.response.next_start_after().empty())
      return keys;
    start_after = r.response.next_start_after();
  }
  FAIL("scan of '" << prefix << "' did not complete within " << max_pages
                   << " pages");
  return keys;
}

std::string metadata_value(const std::multimap<std::string, std::string>& md,
                           const std::string& key) {
  auto it = md.find(key);
  return it == md.end() ? std::string() : it->second;
}

} // namespace

TEST_CASE_METHOD(gateway_fixture, "Get, Set, Exists and Delete on one key",
                 "[e2e][kv]") {
  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    auto missing = kv.get(ns, "one/missing");
    REQUIRE_OK(missing);
    CHECK_FALSE(missing.response.found());
    CHECK(missing.response.value().empty());
    auto missing_exists = kv.exists(ns, "one/missing");
    REQUIRE_OK(missing_exists);
    CHECK_FALSE(missing_exists.response.exists());

    auto first = kv.set(ns, "one/key", "first");
    REQUIRE_OK(first);
    CHECK(first.response.version() > 0);
    auto got = kv.get(ns, "one/key");
    REQUIRE_OK(got);
    CHECK(got.response.found());
    CHECK(got.response.value() == "first");
    CHECK(got.response.version() == first.response.version());
    auto present = kv.exists(ns, "one/key");
    REQUIRE_OK(present);
    CHECK(present.response.exists());

    // Every write of the key answers a larger version than the one before.
    uint64_t previous = first.response.version();
    for (int i = 0; i < 5; ++i) {
      auto again = kv.set(ns, "one/key", "value " + std::to_string(i));
      REQUIRE_OK(again);
      CHECK(again.response.version() > previous);
      previous = again.response.version();
    }
    got = kv.get(ns, "one/key");
    REQUIRE_OK(got);
    CHECK(got.response.value() == "value 4");
    CHECK(got.response.version() == previous);

    auto removed = kv.del(ns, "one/key");
    REQUIRE_OK(removed);
    CHECK(removed.response.existed());
    got = kv.get(ns, "one/key");
    REQUIRE_OK(got);
    CHECK_FALSE(got.response.found());
    present = kv.exists(ns, "one/key");
    REQUIRE_OK(present);
    CHECK_FALSE(present.response.exists());
    auto removed_again = kv.del(ns, "one/key");
    REQUIRE_OK(removed_again);
    CHECK_FALSE(removed_again.response.existed());

    // A deleted key can be written again.
    auto rewritten = kv.set(ns, "one/key", "back");
    REQUIRE_OK(rewritten);
    CHECK(rewritten.response.version() > 0);
    got = kv.get(ns, "one/key");
    REQUIRE_OK(got);
    CHECK(got.response.value() == "back");
  }
}

TEST_CASE_METHOD(gateway_fixture, "Set with if_version is a compare-and-set",
                 "[e2e][kv]") {
  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    auto created = kv.set(ns, "cas/key", "v1", 0, 0u);
    REQUIRE_OK(created);
    uint64_t v1 = created.response.version();

    auto expect_unchanged = [&](const std::string& value, uint64_t version) {
      auto got = kv.get(ns, "cas/key");
      REQUIRE_OK(got);
      CHECK(got.response.found());
      CHECK(got.response.value() == value);
      CHECK(got.response.version() == version);
    };

    // 0 means "only if absent": the key is present now.
    CHECK_CODE(kv.set(ns, "cas/key", "lost", 0, 0u),
               StatusCode::FAILED_PRECONDITION);
    expect_unchanged("v1", v1);
    CHECK_CODE(kv.set(ns, "cas/key", "lost", 0, v1 + 100),
               StatusCode::FAILED_PRECONDITION);
    expect_unchanged("v1", v1);

    auto updated = kv.set(ns, "cas/key", "v2", 0, v1);
    REQUIRE_OK(updated);
    uint64_t v2 = updated.response.version();
    CHECK(v2 > v1);
    expect_unchanged("v2", v2);

    // A stale version no longer matches.
    CHECK_CODE(kv.set(ns, "cas/key", "lost", 0, v1),
               StatusCode::FAILED_PRECONDITION);
    expect_unchanged("v2", v2);

    // A missing key matches only 0.
    CHECK_CODE(kv.set(ns, "cas/absent", "lost", 0, 5u),
               StatusCode::FAILED_PRECONDITION);
    auto absent = kv.get(ns, "cas/absent");
    REQUIRE_OK(absent);
    CHECK_FALSE(absent.response.found());

    REQUIRE_OK(kv.del(ns, "cas/key"));
    auto recreated = kv.set(ns, "cas/key", "v3", 0, 0u);
    REQUIRE_OK(recreated);
    auto got = kv.get(ns, "cas/key");
    REQUIRE_OK(got);
    CHECK(got.response.value() == "v3");
    CHECK(got.response.version() == recreated.response.version());
  }
}

TEST_CASE_METHOD(gateway_fixture, "BatchSet, BatchGet and BatchDelete",
                 "[e2e][kv]") {
  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    std::vector<std::string> keys = {"b/3", "b/1", "b/5", "b/2", "b/4"};
    std::vector<prism::v1::Entry> entries;
    for (const auto& key : keys)
      entries.push_back(make_entry(key, "value of " + key));
    auto written = kv.batch_set(ns, entries);
    REQUIRE_OK(written);
    REQUIRE(written.response.versions_size() == 5);
    std::map<std::string, uint64_t> version_of;
    for (size_t i = 0; i < keys.size(); ++i) {
      auto got = kv.get(ns, keys[i]);
      REQUIRE_OK(got);
      INFO("key " << keys[i]);
      CHECK(got.response.found());
      CHECK(got.response.value() == "value of " + keys[i]);
      // Versions come back in entry order.
      CHECK(got.response.version()
            == written.response.versions(static_cast<int>(i)));
      version_of[keys[i]] = written.response.versions(static_cast<int>(i));
    }

    std::vector<std::string> wanted
      = {"b/4", "b/missing", "b/1", "b/5", "b/2", "b/3"};
    auto read = kv.batch_get(ns, wanted);
    REQUIRE_OK(read);
    REQUIRE(read.response.items_size() == static_cast<int>(wanted.size()));
    for (size_t i = 0; i < wanted.size(); ++i) {
      const auto& item = read.response.items(static_cast<int>(i));
      INFO("item " << i << " for " << wanted[i]);
      CHECK(item.key() == wanted[i]);
      if (wanted[i] == "b/missing") {
        CHECK_FALSE(item.found());
        CHECK(item.value().empty());
      } else {
        CHECK(item.found());
        CHECK(item.value() == "value of " + wanted[i]);
        CHECK(item.version() == version_of[wanted[i]]);
      }
    }

    auto deleted = kv.batch_delete(ns, {"b/1", "b/2", "b/missing"});
    REQUIRE_OK(deleted);
    CHECK(deleted.response.deleted() == 2);
    read = kv.batch_get(ns, {"b/1", "b/2", "b/3"});
    REQUIRE_OK(read);
    REQUIRE(read.response.items_size() == 3);
    CHECK_FALSE(read.response.items(0).found());
    CHECK_FALSE(read.response.items(1).found());
    CHECK(read.response.items(2).found());

    // Overwriting through BatchSet moves the versions on.
    auto overwritten = kv.batch_set(
      ns, {make_entry("b/3", "new"), make_entry("b/1", "again")});
    REQUIRE_OK(overwritten);
    REQUIRE(overwritten.response.versions_size() == 2);
    CHECK(overwritten.response.versions(0) > version_of["b/3"]);
    auto got = kv.get(ns, "b/3");
    REQUIRE_OK(got);
    CHECK(got.response.value() == "new");
    CHECK(got.response.version() == overwritten.response.versions(0));
  }
}

TEST_CASE_METHOD(gateway_fixture, "BatchSet writes all entries or none",
                 "[e2e][kv]") {
  auto check_none_written
    = [&](const std::string& ns, const std::vector<std::string>& keys) {
        auto read = kv.batch_get(ns, keys);
        REQUIRE_OK(read);
        REQUIRE(read.response.items_size() == static_cast<int>(keys.size()));
        for (const auto& item : read.response.items()) {
          INFO("key " << item.key());
          CHECK_FALSE(item.found());
        }
      };

  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    auto before = kv.set(ns, "all/kept", "old");
    REQUIRE_OK(before);

    CHECK_CODE(
      kv.batch_set(ns,
                   {make_entry("all/a", "1"), make_entry("", "2"),
                    make_entry("all/kept", "new"), make_entry("all/b", "3")}),
      StatusCode::INVALID_ARGUMENT);
    check_none_written(ns, {"all/a", "all/b"});

    CHECK_CODE(
      kv.batch_set(ns,
                   {make_entry("all/a", "1"), make_entry("all/kept", "new"),
                    make_entry("all/" + std::string(4096, 'k'), "2")}),
      StatusCode::INVALID_ARGUMENT);
    check_none_written(ns, {"all/a"});

    auto kept = kv.get(ns, "all/kept");
    REQUIRE_OK(kept);
    CHECK(kept.response.value() == "old");
    CHECK(kept.response.version() == before.response.version());
  }

  INFO("namespace small (max_value_bytes 1024)");
  REQUIRE_OK(kv.set("small", "all/kept", "old"));
  CHECK_CODE(kv.batch_set("small",
                          {make_entry("all/a", std::string(10, 'a')),
                           make_entry("all/kept", std::string(1024, 'n')),
                           make_entry("all/b", std::string(1025, 'b')),
                           make_entry("all/c", "c")}),
             StatusCode::INVALID_ARGUMENT);
  check_none_written("small", {"all/a", "all/b", "all/c"});
  auto kept = kv.get("small", "all/kept");
  REQUIRE_OK(kept);
  CHECK(kept.response.value() == "old");

  auto at_limit
    = kv.batch_set("small", {make_entry("all/a", std::string(1024, 'a'))});
  REQUIRE_OK(at_limit);
  REQUIRE(at_limit.response.versions_size() == 1);
}

TEST_CASE_METHOD(gateway_fixture, "Scan lists keys in bytewise order",
                 "[e2e][kv][scan]") {
  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    std::vector<std::string> inside
      = {"scan/d", "scan/b", "scan/c/1", "scan/a", "scan/c/0"};
    std::vector<std::string> outside = {"scam/x", "scao", "sca", "Scan/a"};
    std::map<std::string, uint64_t> version_of;
    for (const auto& key : inside) {
      auto r = kv.set(ns, key, "v:" + key);
      REQUIRE_OK(r);
      version_of[key] = r.response.version();
    }
    for (const auto& key : outside)
      REQUIRE_OK(kv.set(ns, key, "v:" + key));
    std::vector<std::string> sorted = inside;
    std::sort(sorted.begin(), sorted.end());

    auto all = kv.scan(scan_request(ns, "scan/"));
    REQUIRE_OK(all);
    CHECK(keys_of(all.response.items()) == sorted);
    CHECK(all.response.next_start_after().empty());
    for (const auto& item : all.response.items()) {
      INFO("key " << item.key());
      CHECK(item.found());
      CHECK(item.value() == "v:" + item.key());
      CHECK(item.version() == version_of[item.key()]);
    }

    auto keys_only = kv.scan(scan_request(ns, "scan/", "", 0, true));
    REQUIRE_OK(keys_only);
    CHECK(keys_of(keys_only.response.items()) == sorted);
    for (const auto& item : keys_only.response.items())
      CHECK(item.value().empty());

    auto after_b = kv.scan(scan_request(ns, "scan/", "scan/b"));
    REQUIRE_OK(after_b);
    CHECK(keys_of(after_b.response.items())
          == std::vector<std::string>{"scan/c/0", "scan/c/1", "scan/d"});
    auto after_gap = kv.scan(scan_request(ns, "scan/", "scan/bb"));
    REQUIRE_OK(after_gap);
    CHECK(keys_of(after_gap.response.items())
          == std::vector<std::string>{"scan/c/0", "scan/c/1", "scan/d"});
    auto after_last = kv.scan(scan_request(ns, "scan/", "scan/d"));
    REQUIRE_OK(after_last);
    CHECK(after_last.response.items_size() == 0);
    CHECK(after_last.response.next_start_after().empty());

    // Pages of two: the last page is short and says the scan is complete.
    std::vector<size_t> page_sizes;
    CHECK(scan_all(kv, ns, "scan/", 2, page_sizes) == sorted);
    CHECK(page_sizes == std::vector<size_t>{2, 2, 1});

    // An empty prefix lists the whole namespace.
    std::vector<std::string> everything = inside;
    everything.insert(everything.end(), outside.begin(), outside.end());
    std::sort(everything.begin(), everything.end());
    auto whole = kv.scan(scan_request(ns, ""));
    REQUIRE_OK(whole);
    CHECK(keys_of(whole.response.items()) == everything);

    auto nothing = kv.scan(scan_request(ns, "scan/zzz"));
    REQUIRE_OK(nothing);
    CHECK(nothing.response.items_size() == 0);
    CHECK(nothing.response.next_start_after().empty());

    REQUIRE_OK(kv.scan(scan_request(ns, "scan/", "", 1000)));
    CHECK_CODE(kv.scan(scan_request(ns, "scan/", "", 1001)),
               StatusCode::INVALID_ARGUMENT);
  }
}

TEST_CASE_METHOD(gateway_fixture,
                 "Scan pages through 1,234 keys exactly once in order",
                 "[e2e][kv][scan]") {
  constexpr int key_count = 1234;
  constexpr int batch_size = 250;
  std::vector<std::string> keys;
  for (int i = 0; i < key_count; ++i)
    keys.push_back(
      "page/"
      + std::to_string(i)); // not zero-padded: bytewise != numeric order
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());

  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    for (int from = 0; from < key_count; from += batch_size) {
      std::vector<prism::v1::Entry> entries;
      for (int i = from; i < std::min(key_count, from + batch_size); ++i)
        entries.push_back(make_entry(keys[i], "v" + std::to_string(i)));
      REQUIRE_OK(kv.batch_set(ns, entries));
    }
    for (const auto& key : {"pag", "page", "pagf/0", "pagd"})
      REQUIRE_OK(kv.set(ns, key, "outside"));

    std::vector<size_t> page_sizes;
    auto scanned = scan_all(kv, ns, "page/", 100, page_sizes);
    REQUIRE(scanned.size() == sorted.size());
    CHECK(scanned == sorted);
    std::set<std::string> distinct(scanned.begin(), scanned.end());
    CHECK(distinct.size() == scanned.size());
    // 12 full pages and a last one of 34 that closes the scan.
    std::vector<size_t> expected_pages(12, 100);
    expected_pages.push_back(34);
    CHECK(page_sizes == expected_pages);

    std::vector<size_t> big_pages;
    CHECK(scan_all(kv, ns, "page/", 1000, big_pages) == sorted);
    CHECK(big_pages == std::vector<size_t>{1000, 234});

    // limit 0 means 100.
    auto first_page = kv.scan(scan_request(ns, "page/"));
    REQUIRE_OK(first_page);
    CHECK(first_page.response.items_size() == 100);
    CHECK_FALSE(first_page.response.next_start_after().empty());
  }
}

TEST_CASE_METHOD(gateway_fixture, "A key with a TTL disappears after it",
                 "[e2e][kv][ttl]") {
  constexpr uint64_t ttl_ms = 1500;
  // Expiry is measured by the gateway's clock from when it took the write;
  // this much slack covers clock granularity only.
  constexpr auto early_slack = 50ms;
  constexpr auto expiry_deadline = 15s;

  auto written_at = steady::now();
  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    REQUIRE_OK(kv.set(ns, "ttl/short", "short-lived", ttl_ms));
    REQUIRE_OK(kv.batch_set(ns,
                            {make_entry("ttl/batch", "short-lived too", ttl_ms),
                             make_entry("ttl/batch-long", "stays")}));
    REQUIRE_OK(kv.set(ns, "ttl/long", "stays"));
  }
  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns << ", right after the write");
    auto got = kv.get(ns, "ttl/short");
    REQUIRE_OK(got);
    // Fails only if this machine stalled for the whole TTL.
    CHECK(got.response.found());
    CHECK(got.response.value() == "short-lived");
    auto ex = kv.exists(ns, "ttl/batch");
    REQUIRE_OK(ex);
    CHECK(ex.response.exists());
  }

  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    for (const std::string key : {"ttl/short", "ttl/batch"}) {
      INFO("key " << key);
      auto deadline = steady::now() + expiry_deadline;
      bool gone = false;
      while (!gone && steady::now() < deadline) {
        auto got = kv.get(ns, key);
        REQUIRE_OK(got);
        if (!got.response.found()) {
          gone = true;
          CHECK(steady::now() >= written_at + std::chrono::milliseconds(ttl_ms)
                  - early_slack);
        } else {
          std::this_thread::sleep_for(20ms);
        }
      }
      REQUIRE(gone);
      auto ex = kv.exists(ns, key);
      REQUIRE_OK(ex);
      CHECK_FALSE(ex.response.exists());
    }

    auto read = kv.batch_get(
      ns, {"ttl/short", "ttl/long", "ttl/batch", "ttl/batch-long"});
    REQUIRE_OK(read);
    REQUIRE(read.response.items_size() == 4);
    CHECK_FALSE(read.response.items(0).found());
    CHECK(read.response.items(1).found());
    CHECK_FALSE(read.response.items(2).found());
    CHECK(read.response.items(3).found());

    auto listed = kv.scan(scan_request(ns, "ttl/"));
    REQUIRE_OK(listed);
    CHECK(keys_of(listed.response.items())
          == std::vector<std::string>{"ttl/batch-long", "ttl/long"});

    // An expired key counts as absent for compare-and-set.
    REQUIRE_OK(kv.set(ns, "ttl/short", "reborn", 0, 0u));
    auto reborn = kv.get(ns, "ttl/short");
    REQUIRE_OK(reborn);
    CHECK(reborn.response.value() == "reborn");
  }
}

TEST_CASE_METHOD(gateway_fixture,
                 "Invalid requests are answered with the right codes",
                 "[e2e][kv][errors]") {
  SECTION("empty namespace or key") {
    CHECK_CODE(kv.get("", "k"), StatusCode::INVALID_ARGUMENT);
    CHECK_CODE(kv.set("", "k", "v"), StatusCode::INVALID_ARGUMENT);
    CHECK_CODE(kv.get("cache", ""), StatusCode::INVALID_ARGUMENT);
    CHECK_CODE(kv.set("cache", "", "v"), StatusCode::INVALID_ARGUMENT);
    CHECK_CODE(kv.del("cache", ""), StatusCode::INVALID_ARGUMENT);
    CHECK_CODE(kv.exists("default", ""), StatusCode::INVALID_ARGUMENT);
    CHECK_CODE(kv.batch_get("cache", {"a", ""}), StatusCode::INVALID_ARGUMENT);
    CHECK_CODE(kv.batch_delete("cache", {"", "a"}),
               StatusCode::INVALID_ARGUMENT);
  }
  SECTION("key length: 4096 bytes is the most") {
    for (const auto& ns : data_namespaces) {
      INFO("namespace " << ns);
      std::string longest(4096, 'k');
      REQUIRE_OK(kv.set(ns, longest, "v"));
      auto got = kv.get(ns, longest);
      REQUIRE_OK(got);
      CHECK(got.response.found());
      std::string too_long(4097, 'k');
      CHECK_CODE(kv.set(ns, too_long, "v"), StatusCode::INVALID_ARGUMENT);
      CHECK_CODE(kv.get(ns, too_long), StatusCode::INVALID_ARGUMENT);
      CHECK_CODE(kv.del(ns, too_long), StatusCode::INVALID_ARGUMENT);
    }
  }
  SECTION("value over the namespace's max_value_bytes") {
    REQUIRE_OK(kv.set("small", "v", std::string(1024, 'a')));
    CHECK_CODE(kv.set("small", "v", std::string(1025, 'b')),
               StatusCode::INVALID_ARGUMENT);
    auto got = kv.get("small", "v");
    REQUIRE_OK(got);
    CHECK(got.response.value() == std::string(1024, 'a'));
    // The same value is fine where the default limit applies.
    REQUIRE_OK(kv.set("cache", "v", std::string(1025, 'b')));
  }
  SECTION("scan limit over 1000") {
    CHECK_CODE(kv.scan(scan_request("cache", "", "", 1001)),
               StatusCode::INVALID_ARGUMENT);
    CHECK_CODE(kv.scan(scan_request("default", "", "", 100000)),
               StatusCode::INVALID_ARGUMENT);
  }
  SECTION("a namespace longer than any name is INVALID_ARGUMENT, and not "
          "quoted back whole") {
    std::string huge(9000, 'n');
    for (auto r : {kv.get(huge, "k").status, kv.set(huge, "k", "v").status,
                   kv.scan(scan_request(huge, "")).status}) {
      INFO(describe(r));
      CHECK(r.error_code() == StatusCode::INVALID_ARGUMENT);
      CHECK(r.error_message()
            == "namespace is 9000 bytes long; namespace names are at most "
               "128 bytes");
    }
    std::string longest(128, 'n');
    CHECK_CODE(kv.get(longest, "k"), StatusCode::NOT_FOUND);
  }
  SECTION("unknown namespace is NOT_FOUND and named") {
    for (auto r : {kv.get("no-such-space", "k").status,
                   kv.set("no-such-space", "k", "v").status,
                   kv.scan(scan_request("no-such-space", "")).status,
                   kv.batch_get("no-such-space", {"k"}).status}) {
      INFO(describe(r));
      CHECK(r.error_code() == StatusCode::NOT_FOUND);
      CHECK_THAT(r.error_message(), Catch::Contains("no-such-space"));
    }
  }
  SECTION("a pubsub namespace refuses KeyValue calls") {
    CHECK_CODE(kv.get("events", "k"), StatusCode::FAILED_PRECONDITION);
    CHECK_CODE(kv.set("events", "k", "v"), StatusCode::FAILED_PRECONDITION);
    CHECK_CODE(kv.del("events", "k"), StatusCode::FAILED_PRECONDITION);
    CHECK_CODE(kv.scan(scan_request("events", "")),
               StatusCode::FAILED_PRECONDITION);
    CHECK_CODE(kv.batch_set("events", {make_entry("k", "v")}),
               StatusCode::FAILED_PRECONDITION);
  }
  SECTION("an already expired deadline") {
    // With a 1 µs budget the client's own deadline fires first, unless the
    // answer wins that race (gRPC then reports the answer). Either way the
    // gateway keeps serving. That an expired request is not executed is
    // checked in drain_e2e_test.cpp, where a request is held until its
    // deadline has surely passed.
    for (int i = 0; i < 5; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now()
                       + std::chrono::microseconds(1));
      prism::v1::SetRequest req;
      req.set_namespace_("cache");
      req.set_key("deadline/k");
      req.set_value("v");
      prism::v1::SetResponse resp;
      auto status = kv.stub().Set(&ctx, req, &resp);
      INFO(describe(status));
      CHECK(
        (status.error_code() == StatusCode::DEADLINE_EXCEEDED || status.ok()));
    }
    REQUIRE_OK(kv.get("cache", "deadline/k"));
  }
}

TEST_CASE_METHOD(gateway_fixture, "Every answer carries x-request-id",
                 "[e2e][kv][metadata]") {
  SECTION("the client's id is echoed") {
    grpc::ClientContext ctx;
    set_deadline(ctx);
    ctx.AddMetadata("x-request-id", "e2e-request-0042");
    prism::v1::GetRequest req;
    req.set_namespace_("cache");
    req.set_key("rid");
    prism::v1::GetResponse resp;
    auto status = kv.stub().Get(&ctx, req, &resp);
    REQUIRE(status.ok());
    auto md = initial_metadata_of(ctx);
    CHECK(md.count("x-request-id") == 1);
    CHECK(metadata_value(md, "x-request-id") == "e2e-request-0042");
  }
  SECTION("an id is generated when the client sends none") {
    auto first = kv.set("default", "rid", "v");
    auto second = kv.get("default", "rid");
    REQUIRE_OK(first);
    REQUIRE_OK(second);
    std::string id1 = metadata_value(first.initial_metadata, "x-request-id");
    std::string id2 = metadata_value(second.initial_metadata, "x-request-id");
    CHECK_FALSE(id1.empty());
    CHECK_FALSE(id2.empty());
    CHECK(id1 != id2);
  }
  SECTION("ids the gateway replaces are logged once a minute, not per call") {
    for (int i = 0; i < 200; ++i) {
      grpc::ClientContext ctx;
      set_deadline(ctx);
      ctx.AddMetadata("x-request-id", "has a space " + std::to_string(i));
      prism::v1::GetRequest req;
      req.set_namespace_("cache");
      req.set_key("rid");
      prism::v1::GetResponse resp;
      REQUIRE(kv.stub().Get(&ctx, req, &resp).ok());
      CHECK(metadata_value(initial_metadata_of(ctx), "x-request-id").find(' ')
            == std::string::npos);
    }
    auto log = read_file(gateway.log_path());
    size_t lines = 0;
    for (size_t at = log.find("replaces a client request id");
         at != std::string::npos;
         at = log.find("replaces a client request id", at + 1))
      ++lines;
    CHECK(lines == 1);
  }
  SECTION("failed calls carry it too") {
    grpc::ClientContext ctx;
    set_deadline(ctx);
    ctx.AddMetadata("x-request-id", "e2e-failing-7");
    prism::v1::GetRequest req;
    req.set_namespace_("no-such-space");
    req.set_key("k");
    prism::v1::GetResponse resp;
    auto status = kv.stub().Get(&ctx, req, &resp);
    REQUIRE(status.error_code() == StatusCode::NOT_FOUND);
    // The gateway sends the headers before the status, so the id is in the
    // initial metadata even for a failed call.
    CHECK(metadata_value(initial_metadata_of(ctx), "x-request-id")
          == "e2e-failing-7");
  }
}

TEST_CASE_METHOD(gateway_fixture,
                 "Values up to the 4 MiB default limit round-trip",
                 "[e2e][kv][large]") {
  std::string one_mib = bytes_of_size(1024 * 1024, 1);
  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    auto written = kv.set(ns, "large/1mib", one_mib);
    REQUIRE_OK(written);
    auto got = kv.get(ns, "large/1mib");
    REQUIRE_OK(got);
    CHECK(got.response.found());
    CHECK(got.response.value().size() == one_mib.size());
    CHECK(got.response.value() == one_mib);
    CHECK(got.response.version() == written.response.version());
  }

  std::string four_mib = bytes_of_size(4 * 1024 * 1024, 2);
  REQUIRE(four_mib.size() == 4194304);
  REQUIRE_OK(kv.set("cache", "large/4mib", four_mib));
  auto got = kv.get("cache", "large/4mib");
  REQUIRE_OK(got);
  CHECK(got.response.value() == four_mib);

  CHECK_CODE(kv.set("cache", "large/over", four_mib + "x"),
             StatusCode::INVALID_ARGUMENT);
  auto over = kv.get("cache", "large/over");
  REQUIRE_OK(over);
  CHECK_FALSE(over.response.found());
}

TEST_CASE_METHOD(gateway_fixture,
                 "A BatchGet or Scan answer carries no more than the largest "
                 "request the gateway takes",
                 "[e2e][kv][large]") {
  // This gateway's namespaces allow 4 MiB values at most, so it takes
  // requests of up to 5 MiB, and answers no larger.
  std::string three_mib = bytes_of_size(3 * 1024 * 1024, 3);
  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    REQUIRE_OK(kv.set(ns, "answer/a", three_mib));
    REQUIRE_OK(kv.set(ns, "answer/b", three_mib));
    auto twice = kv.batch_get(ns, {"answer/a", "answer/a"});
    CHECK_CODE(twice, StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(twice.status.error_message(),
               Catch::Contains("ask for fewer keys"));
    // A 20 KB request naming one 3 MiB value a thousand times gets the
    // same short refusal, not a 3 GB answer.
    auto many = kv.batch_get(ns, std::vector<std::string>(1000, "answer/a"));
    CHECK_CODE(many, StatusCode::INVALID_ARGUMENT);
    auto one = kv.batch_get(ns, {"answer/missing", "answer/b"});
    REQUIRE_OK(one);
    REQUIRE(one.response.items_size() == 2);
    CHECK_FALSE(one.response.items(0).found());
    CHECK(one.response.items(1).value() == three_mib);
    // A scan page ends early and says where to go on.
    auto first = kv.scan(scan_request(ns, "answer/"));
    REQUIRE_OK(first);
    CHECK(keys_of(first.response.items())
          == std::vector<std::string>{"answer/a"});
    CHECK(first.response.next_start_after() == "answer/a");
    auto second = kv.scan(scan_request(ns, "answer/", "answer/a"));
    REQUIRE_OK(second);
    CHECK(keys_of(second.response.items())
          == std::vector<std::string>{"answer/b"});
    CHECK(second.response.items(0).value() == three_mib);
    CHECK(second.response.next_start_after().empty());
    // Keys only: both fit.
    auto keys = kv.scan(scan_request(ns, "answer/", "", 0, true));
    REQUIRE_OK(keys);
    CHECK(keys.response.items_size() == 2);
  }
}

TEST_CASE_METHOD(gateway_fixture, "Binary values and unusual keys round-trip",
                 "[e2e][kv][encoding]") {
  std::string every_byte;
  for (int round = 0; round < 2; ++round)
    for (int b = 0; b < 256; ++b)
      every_byte.push_back(static_cast<char>(b));
  std::string zeros(17, '\0');
  std::string zero_inside = std::string("a\0b\0\0c", 6);

  std::vector<std::string> keys = {"u/user:42/é-ü_x.y",
                                   "u/日本語",
                                   "u/a:b",
                                   "u/a-b",
                                   "u/a_b",
                                   "u/a.b",
                                   "u/a/b",
                                   "u/Zeta",
                                   "u/zeta",
                                   "u/ä",
                                   "u/z",
                                   "u/ключ"};
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(),
            sorted.end()); // std::string compares bytes as unsigned char

  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    for (const auto& [key, value] :
         std::vector<std::pair<std::string, std::string>>{
           {"bin/every-byte", every_byte},
           {"bin/zeros", zeros},
           {"bin/zero-inside", zero_inside}}) {
      INFO("key " << key);
      REQUIRE_OK(kv.set(ns, key, value));
      auto got = kv.get(ns, key);
      REQUIRE_OK(got);
      CHECK(got.response.value().size() == value.size());
      CHECK(got.response.value() == value);
    }
    auto batch = kv.batch_get(ns, {"bin/zeros", "bin/every-byte"});
    REQUIRE_OK(batch);
    REQUIRE(batch.response.items_size() == 2);
    CHECK(batch.response.items(0).value() == zeros);
    CHECK(batch.response.items(1).value() == every_byte);

    // An empty value is a value: the key is found.
    REQUIRE_OK(kv.set(ns, "bin/empty", ""));
    auto empty = kv.get(ns, "bin/empty");
    REQUIRE_OK(empty);
    CHECK(empty.response.found());
    CHECK(empty.response.value().empty());

    for (const auto& key : keys)
      REQUIRE_OK(kv.set(ns, key, "value of " + key));
    REQUIRE_OK(kv.set(ns, "日本語", "bare"));
    for (const auto& key : keys) {
      INFO("key " << key);
      auto got = kv.get(ns, key);
      REQUIRE_OK(got);
      CHECK(got.response.found());
      CHECK(got.response.value() == "value of " + key);
    }
    auto bare = kv.get(ns, "日本語");
    REQUIRE_OK(bare);
    CHECK(bare.response.value() == "bare");

    auto listed = kv.scan(scan_request(ns, "u/"));
    REQUIRE_OK(listed);
    CHECK(keys_of(listed.response.items()) == sorted);
    auto utf8_prefix = kv.scan(scan_request(ns, "u/日"));
    REQUIRE_OK(utf8_prefix);
    CHECK(keys_of(utf8_prefix.response.items())
          == std::vector<std::string>{"u/日本語"});
  }
}

TEST_CASE_METHOD(gateway_fixture,
                 "16 clients writing at once lose no acknowledged write",
                 "[e2e][kv][concurrency]") {
  constexpr int client_count = 16;
  constexpr int keys_per_client = 200;
  constexpr int hot_every = 10; // every tenth write also hits one shared key

  struct ack {
    std::string key;
    std::string value;
    uint64_t version;
  };
  struct client_log {
    std::map<std::string, std::vector<ack>> acks; // per namespace
    std::vector<std::string> errors;
  };
  std::vector<client_log> logs(client_count);
  std::vector<std::thread> clients;
  for (int c = 0; c < client_count; ++c) {
    clients.emplace_back([&, c] {
      kv_client own(gateway.channel());
      auto& log = logs[c];
      auto write = [&](const std::string& ns, const std::string& key,
                       const std::string& value) {
        auto r = own.set(ns, key, value);
        if (r.ok())
          log.acks[ns].push_back({key, value, r.response.version()});
        else
          log.errors.push_back(ns + " " + key + ": " + describe(r.status));
      };
      for (int i = 0; i < keys_per_client && log.errors.size() < 10; ++i) {
        std::string key = "conc/" + std::to_string(c) + "/" + std::to_string(i);
        std::string value
          = "client " + std::to_string(c) + " write " + std::to_string(i);
        for (const auto& ns : data_namespaces) {
          write(ns, key, value);
          if (i % hot_every == 0)
            write(ns, "conc/hot", value);
        }
      }
    });
  }
  for (auto& t : clients)
    t.join();

  for (const auto& log : logs)
    for (const auto& e : log.errors)
      FAIL_CHECK("write failed: " << e);

  for (const auto& ns : data_namespaces) {
    INFO("namespace " << ns);
    std::map<std::string, ack> expected;
    std::vector<ack> hot;
    for (const auto& log : logs) {
      auto it = log.acks.find(ns);
      if (it == log.acks.end())
        continue;
      for (const auto& a : it->second) {
        if (a.key == "conc/hot")
          hot.push_back(a);
        else
          expected[a.key] = a;
      }
    }
    CHECK(expected.size()
          == static_cast<size_t>(client_count * keys_per_client));

    std::vector<std::string> keys;
    for (const auto& [key, a] : expected)
      keys.push_back(key);
    size_t mismatches = 0;
    for (size_t from = 0; from < keys.size(); from += 500) {
      std::vector<std::string> chunk(
        keys.begin() + from, keys.begin() + std::min(keys.size(), from + 500));
      auto read = kv.batch_get(ns, chunk);
      REQUIRE_OK(read);
      REQUIRE(read.response.items_size() == static_cast<int>(chunk.size()));
      for (const auto& item : read.response.items()) {
        const auto& a = expected[item.key()];
        if (!item.found() || item.value() != a.value
            || item.version() != a.version) {
          if (++mismatches <= 5)
            FAIL_CHECK(item.key() << ": found=" << item.found() << " value='"
                                  << item.value() << "' version="
                                  << item.version() << ", acknowledged '"
                                  << a.value << "' version " << a.version);
        }
      }
    }
    CHECK(mismatches == 0);

    // Every write of the shared key got its own version, and the last one wins.
    REQUIRE_FALSE(hot.empty());
    std::set<uint64_t> hot_versions;
    const ack* newest = &hot.front();
    for (const auto& a : hot) {
      hot_versions.insert(a.version);
      if (a.version > newest->version)
        newest = &a;
    }
    CHECK(hot_versions.size() == hot.size());
    auto got = kv.get(ns, "conc/hot");
    REQUIRE_OK(got);
    CHECK(got.response.version() == newest->version);
    CHECK(got.response.value() == newest->value);
  }
}
