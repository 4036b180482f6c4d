// Token authentication and namespace access against the real binary: every
// RPC without or with a wrong token is UNAUTHENTICATED (saying nothing of
// namespaces), a principal allowed to read cannot write, groups and admin
// rights apply, PubSub follows the same rules, audit lines carry the
// principal, and the admin listener's kill needs an admin's token.

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"
#include "pubsub_client.hpp"

using namespace prism::test;
using namespace std::chrono_literals;

namespace {

// The tokens, and their SHA-256 as the config lists them.
const std::string reader_token = "reader-token";
const std::string writer_token = "writer-token";
const std::string root_token = "admin-token";

const char* auth_config = R"(
audit:
  path: {dir}/audit.log
auth:
  mode: token
  tokens:
    reader: ba5005a40cf5212e4ac0190104cc127edab013294bb71279a975b27a80982d45
    writer: 3590c0a59f72ce02700194a05f228a725c1f135a6dcb3ded9b2d86ab6a6f52cb
    root: 10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a
  groups:
    staff: [writer]
  admins: [root]
backends:
  mem: {type: memory}
namespaces:
  cache: {backend: mem, access: {read: [reader], write: [staff]}}
  events: {backend: mem, pattern: pubsub, access: {read: [reader], write: [writer]}}
  secret: {backend: mem, access: {admin: [root]}}
  closed: {backend: mem}
)";

} // namespace

TEST_CASE("auth: every call without a known token is UNAUTHENTICATED, and "
          "says nothing of namespaces",
          "[e2e][auth]") {
  gateway_process gw{auth_config};
  gw.start();
  kv_client kv{gw.channel()};
  for (const std::string token : {"", "not-a-token", "reader-token "}) {
    kv.set_token(token);
    for (const std::string ns : {"cache", "secret", "no-such-namespace"})
      for (auto code : every_kv_rpc(kv, ns)) {
        INFO("token \"" << token << "\" on " << ns);
        CHECK(code == grpc::StatusCode::UNAUTHENTICATED);
      }
  }
  kv.set_token("");
  auto denied = kv.get("no-such-namespace", "k");
  CHECK(denied.status.error_message().find("namespace") == std::string::npos);
  CHECK_THAT(denied.status.error_message(), Catch::Contains("Bearer"));

  // PubSub too.
  auto stub = pubsub_stub(gw);
  std::string id;
  CHECK(try_publish(*stub, "events", "t", "x", {}, id).error_code()
        == grpc::StatusCode::UNAUTHENTICATED);
  subscriber anonymous{gw, "events", "t"};
  std::vector<prism::v1::Message> got;
  CHECK(anonymous.drain(got).error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("auth: a reader reads but cannot write, a group's member writes, "
          "admin covers both, a namespace without rules is closed",
          "[e2e][auth]") {
  gateway_process gw{auth_config};
  gw.start();
  kv_client writer{gw.channel()};
  writer.set_token(writer_token);
  REQUIRE(writer.set("cache", "k", "v").ok());
  CHECK(writer.get("cache", "k").ok()); // write includes read

  kv_client reader{gw.channel()};
  reader.set_token(reader_token);
  auto got = reader.get("cache", "k");
  REQUIRE(got.ok());
  CHECK(got.response.value() == "v");
  auto codes = every_kv_rpc(reader, "cache");
  std::vector<grpc::StatusCode> expected{grpc::StatusCode::OK,
                                         grpc::StatusCode::PERMISSION_DENIED,
                                         grpc::StatusCode::PERMISSION_DENIED,
                                         grpc::StatusCode::OK,
                                         grpc::StatusCode::OK,
                                         grpc::StatusCode::PERMISSION_DENIED,
                                         grpc::StatusCode::PERMISSION_DENIED,
                                         grpc::StatusCode::OK};
  CHECK(codes == expected);
  auto refused = reader.set("cache", "k", "x");
  CHECK(refused.status.error_message()
        == "principal \"reader\" may not write namespace \"cache\" (Set)");
  CHECK(writer.get("cache", "k").response.value() == "v"); // unchanged

  kv_client root{gw.channel()};
  root.set_token(root_token);
  CHECK(root.set("secret", "s", "1").ok());
  CHECK(root.get("secret", "s").ok());
  CHECK(reader.get("secret", "s").status.error_code()
        == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(writer.set("secret", "s", "2").status.error_code()
        == grpc::StatusCode::PERMISSION_DENIED);
  for (auto* who : {&reader, &writer, &root})
    CHECK(who->get("closed", "k").status.error_code()
          == grpc::StatusCode::PERMISSION_DENIED);
  // An authenticated caller learns that a namespace does not exist.
  CHECK(reader.get("no-such-namespace", "k").status.error_code()
        == grpc::StatusCode::NOT_FOUND);

  // Audit lines name the principal.
  CHECK(eventually(
    [&] {
      auto audit = read_file(gw.dir() + "/audit.log");
      return audit.find("\"principal\":\"reader\"") != std::string::npos
        && audit.find("\"principal\":\"writer\"") != std::string::npos;
    },
    10s));
}

TEST_CASE("auth: PubSub follows the namespace's rules", "[e2e][auth]") {
  gateway_process gw{auth_config};
  gw.start();
  subscriber sub{gw, "events", "t", {}, prism::v1::LATEST, 60s, reader_token};
  auto stub = pubsub_stub(gw);
  std::string id;
  CHECK(
    try_publish(*stub, "events", "t", "from reader", {}, id, 10s, reader_token)
      .error_code()
    == grpc::StatusCode::PERMISSION_DENIED);
  REQUIRE(
    try_publish(*stub, "events", "t", "from writer", {}, id, 10s, writer_token)
      .ok());
  CHECK(payloads(sub.read(1)) == std::vector<std::string>{"from writer"});
  // root has no rights on events (its admin rights are on secret).
  subscriber outsider{gw,  "events",  "t", {}, prism::v1::LATEST,
                      60s, root_token};
  std::vector<prism::v1::Message> none;
  CHECK(outsider.drain(none).error_code()
        == grpc::StatusCode::PERMISSION_DENIED);
}

TEST_CASE("auth: killing an actor on the admin listener needs an admin's "
          "token",
          "[e2e][auth][admin]") {
  gateway_process gw{auth_config};
  gw.start();
  auto router = find_actor(actor_list(gw), "router", "router");
  REQUIRE_FALSE(router.is_null());
  auto path
    = "/debug/actors/" + std::to_string(router["id"].get<uint64_t>()) + "/kill";
  CHECK(http_post(gw.admin_port(), path).status == 403);
  auto with = [&](const std::string& token) {
    return http_request(gw.admin_port(), "POST", path, "", 5s,
                        {{"Authorization", "Bearer " + token}})
      .status;
  };
  CHECK(with(writer_token) == 403);
  CHECK(with(root_token) == 202);
  // Reading the inspector needs no token.
  CHECK(http_get(gw.admin_port(), "/debug/actors").status == 200);
}

TEST_CASE("auth: prism kv and prism pubsub send the token of PRISM_TOKEN",
          "[e2e][auth][cli]") {
  gateway_process gw{auth_config};
  gw.start();
  auto target = "127.0.0.1:" + std::to_string(gw.grpc_port());
  struct token_env {
    explicit token_env(const std::string& token) {
      ::setenv("PRISM_TOKEN", token.c_str(), 1);
    }
    ~token_env() { ::unsetenv("PRISM_TOKEN"); }
  };
  {
    auto none = run_prism({"kv", "--target", target, "get", "cache", "k"});
    CHECK(none.status.code == 1);
    CHECK_THAT(none.err, Catch::Contains("UNAUTHENTICATED"));
  }
  {
    token_env writer{writer_token};
    auto set = run_prism({"kv", "--target", target, "set", "cache", "k", "v"});
    INFO(set.err);
    CHECK(set.status.code == 0);
    auto published = run_prism(
      {"pubsub", "--target", target, "publish", "events", "t", "hello"});
    INFO(published.err);
    CHECK(published.status.code == 0);
  }
  {
    token_env reader{reader_token};
    auto set = run_prism({"kv", "--target", target, "set", "cache", "k", "x"});
    CHECK(set.status.code == 1);
    CHECK_THAT(set.err, Catch::Contains("PERMISSION_DENIED"));
  }
}
