// TLS on the gRPC listener against the real binary, with certificates the
// test makes: TLS with tokens (plaintext clients and clients that do not
// trust the server's CA never get an answer), mutual TLS where the client
// certificate's common name or subject alternative name is the principal
// (every RPC without a certificate is UNAUTHENTICATED, a reader cannot write,
// a certificate from another CA is refused), the command-line client's TLS
// flags, and `prism check` on bad TLS files.

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/security/credentials.h>

#include "admin_view.hpp"
#include "gateway_process.hpp"
#include "pubsub_client.hpp"
#include "test_pki.hpp"

using namespace prism::test;
using namespace std::chrono_literals;

namespace {

/// A config template: "{pki}" stands for the directory of the certificates.
std::string with_pki(std::string yaml, const std::string& pki_dir) {
  for (auto at = yaml.find("{pki}"); at != std::string::npos;
       at = yaml.find("{pki}"))
    yaml.replace(at, 5, pki_dir);
  return yaml;
}

const char* tls_token_config = R"(
server:
  tls: {cert_file: {pki}/server.crt, key_file: {pki}/server.key}
audit:
  path: {dir}/audit.log
auth:
  mode: token
  tokens:
    writer: 3590c0a59f72ce02700194a05f228a725c1f135a6dcb3ded9b2d86ab6a6f52cb
backends:
  mem: {type: memory}
namespaces:
  cache: {backend: mem, access: {write: [writer]}}
)";
const std::string writer_token = "writer-token";

const char* mtls_config = R"(
server:
  tls:
    cert_file: {pki}/server.crt
    key_file: {pki}/server.key
    client_ca_file: {pki}/ca.crt
audit:
  path: {dir}/audit.log
auth:
  mode: mtls
  groups:
    staff: [writer]
backends:
  mem: {type: memory}
namespaces:
  cache: {backend: mem, access: {read: [reader], write: [staff]}}
  events: {backend: mem, pattern: pubsub, access: {read: [reader], write: [writer]}}
)";

std::shared_ptr<grpc::ChannelCredentials> tls_credentials(
  const std::string& ca_file, const key_pair_files* client = nullptr) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(ca_file);
  if (client != nullptr) {
    ssl.pem_cert_chain = read_file(client->cert);
    ssl.pem_private_key = read_file(client->key);
  }
  return grpc::SslCredentials(ssl);
}

} // namespace

TEST_CASE("tls: with tokens over TLS, only clients that speak TLS to the "
          "right certificate get answers, and the token still decides",
          "[e2e][tls]") {
  temp_dir certs;
  test_pki pki{certs.path()};
  gateway_process gw{with_pki(tls_token_config, certs.path())};
  gw.start();

  kv_client good{gw.channel(tls_credentials(pki.ca_cert())), 5s};
  good.set_token(writer_token);
  auto set = good.set("cache", "k", "over tls");
  INFO(set.status.error_message());
  REQUIRE(set.ok());
  auto got = good.get("cache", "k");
  REQUIRE(got.ok());
  CHECK(got.response.value() == "over tls");

  good.set_token("wrong");
  for (auto code : every_kv_rpc(good, "cache"))
    CHECK(code == grpc::StatusCode::UNAUTHENTICATED);

  // Plaintext, and TLS that does not trust the gateway's CA: the handshake
  // fails, no call reaches the gateway.
  kv_client plain{gw.channel(), 2s};
  plain.set_token(writer_token);
  auto refused = plain.get("cache", "k");
  CHECK(refused.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  kv_client doubtful{gw.channel(tls_credentials(pki.stranger_ca_cert())), 2s};
  doubtful.set_token(writer_token);
  CHECK(doubtful.get("cache", "k").status.error_code()
        == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("tls: with mtls the client certificate's common name is the "
          "principal",
          "[e2e][tls][mtls]") {
  temp_dir certs;
  test_pki pki{certs.path()};
  auto reader = pki.client("reader");
  auto writer = pki.client("writer");
  auto outsider = pki.client("outsider");
  auto stranger = pki.stranger("writer");
  gateway_process gw{with_pki(mtls_config, certs.path())};
  gw.start();

  SECTION("every RPC without a client certificate is UNAUTHENTICATED") {
    kv_client anonymous{gw.channel(tls_credentials(pki.ca_cert())), 5s};
    for (const std::string ns : {"cache", "no-such-namespace"})
      for (auto code : every_kv_rpc(anonymous, ns)) {
        INFO(ns);
        CHECK(code == grpc::StatusCode::UNAUTHENTICATED);
      }
    auto stub
      = prism::v1::PubSub::NewStub(gw.channel(tls_credentials(pki.ca_cert())));
    std::string id;
    CHECK(try_publish(*stub, "events", "t", "x", {}, id).error_code()
          == grpc::StatusCode::UNAUTHENTICATED);
  }

  SECTION("a reader reads and may not write; a writer (through its group) "
          "writes; a principal without rules gets nothing") {
    kv_client w{gw.channel(tls_credentials(pki.ca_cert(), &writer)), 5s};
    auto set = w.set("cache", "k", "v1");
    INFO(set.status.error_message());
    REQUIRE(set.ok());
    kv_client r{gw.channel(tls_credentials(pki.ca_cert(), &reader)), 5s};
    auto got = r.get("cache", "k");
    REQUIRE(got.ok());
    CHECK(got.response.value() == "v1");
    auto denied = r.set("cache", "k", "v2");
    CHECK(denied.status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK_THAT(denied.status.error_message(), Catch::Contains("reader"));
    kv_client o{gw.channel(tls_credentials(pki.ca_cert(), &outsider)), 5s};
    CHECK(o.get("cache", "k").status.error_code()
          == grpc::StatusCode::PERMISSION_DENIED);

    auto stub = prism::v1::PubSub::NewStub(
      gw.channel(tls_credentials(pki.ca_cert(), &writer)));
    std::string id;
    CHECK(try_publish(*stub, "events", "t", "x", {}, id).ok());
    auto reader_stub = prism::v1::PubSub::NewStub(
      gw.channel(tls_credentials(pki.ca_cert(), &reader)));
    CHECK(try_publish(*reader_stub, "events", "t", "x", {}, id).error_code()
          == grpc::StatusCode::PERMISSION_DENIED);

    // The audit lines name the certificate's principal.
    REQUIRE(eventually(
      [&] {
        auto audit = read_file(gw.dir() + "/audit.log");
        return audit.find("\"principal\":\"writer\"") != std::string::npos
          && audit.find("\"principal\":\"reader\"") != std::string::npos;
      },
      10s));
  }

  SECTION("a certificate from a CA the gateway does not trust is refused in "
          "the handshake, whatever its name") {
    kv_client s{gw.channel(tls_credentials(pki.ca_cert(), &stranger)), 2s};
    auto refused = s.get("cache", "k");
    CHECK_FALSE(refused.ok());
    CHECK(refused.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  }
}

TEST_CASE("tls: with principal_from san the principal is the certificate's "
          "subject alternative name",
          "[e2e][tls][mtls]") {
  temp_dir certs;
  test_pki pki{certs.path()};
  // The common name would not be allowed to write; the DNS name is.
  auto client = pki.client("someone", "writer");
  std::string config = with_pki(mtls_config, certs.path());
  config.replace(config.find("mode: mtls"), 10,
                 "mode: mtls\n  principal_from: san");
  gateway_process gw{config};
  gw.start();
  kv_client kv{gw.channel(tls_credentials(pki.ca_cert(), &client)), 5s};
  auto set = kv.set("cache", "k", "v");
  INFO(set.status.error_message());
  CHECK(set.ok());
}

TEST_CASE("tls: prism kv and prism pubsub connect with --tls-ca, --tls-cert "
          "and --tls-key",
          "[e2e][tls][cli]") {
  temp_dir certs;
  test_pki pki{certs.path()};
  auto writer = pki.client("writer");
  gateway_process gw{with_pki(mtls_config, certs.path())};
  gw.start();
  auto target = "localhost:" + std::to_string(gw.grpc_port());
  std::vector<std::string> tls{"--tls-ca",  pki.ca_cert(), "--tls-cert",
                               writer.cert, "--tls-key",   writer.key};
  auto with
    = [&](std::vector<std::string> head, std::vector<std::string> tail) {
        head.insert(head.end(), tls.begin(), tls.end());
        head.insert(head.end(), tail.begin(), tail.end());
        return run_prism(head);
      };
  auto set = with({"kv", "--target", target}, {"set", "cache", "k", "v"});
  INFO(set.err);
  CHECK(set.status.code == 0);
  auto get = with({"kv", "--target", target}, {"get", "cache", "k"});
  CHECK(get.status.code == 0);
  CHECK(get.out == "v\n");
  auto published
    = with({"pubsub", "--target", target}, {"publish", "events", "t", "m"});
  INFO(published.err);
  CHECK(published.status.code == 0);

  // Without a certificate: the gateway says how to authenticate.
  auto anonymous = run_prism(
    {"kv", "--target", target, "--tls-ca", pki.ca_cert(), "get", "cache", "k"});
  CHECK(anonymous.status.code == 1);
  CHECK_THAT(anonymous.err, Catch::Contains("UNAUTHENTICATED"));
  // A flag whose file is missing is named.
  auto missing = run_prism({"kv", "--target", target, "--tls-ca",
                            certs.path() + "/none.crt", "get", "cache", "k"});
  CHECK(missing.status.code != 0);
  CHECK_THAT(missing.err, Catch::Contains("--tls-ca"));
}

TEST_CASE("tls: prism check names the TLS file that is wrong",
          "[e2e][tls][config]") {
  temp_dir certs;
  test_pki pki{certs.path()};
  pki.client("other");
  auto check = [&](const std::string& server_tls, const std::string& auth) {
    std::string yaml = "server:\n  tls: " + server_tls + "\n" + auth
      + "backends:\n  mem: {type: memory}\nnamespaces:\n  cache: {backend: mem}\n";
    std::string path = certs.path() + "/prism.yaml";
    write_file(path, with_pki(yaml, certs.path()));
    return run_prism({"check", path});
  };
  auto good
    = check("{cert_file: {pki}/server.crt, key_file: {pki}/server.key}", "");
  INFO(good.out << good.err);
  CHECK(good.status.code == 0);

  auto mismatch = check(
    "{cert_file: {pki}/server.crt, key_file: {pki}/client-other.key}", "");
  CHECK(mismatch.status.code == 1);
  CHECK_THAT(mismatch.err,
             Catch::Contains("server.tls.key_file")
               && Catch::Contains("is not the key of the certificate"));

  auto missing
    = check("{cert_file: {pki}/nope.crt, key_file: {pki}/server.key}", "");
  CHECK(missing.status.code == 1);
  CHECK_THAT(missing.err,
             Catch::Contains("server.tls.cert_file")
               && Catch::Contains("nope.crt"));

  auto key_as_cert
    = check("{cert_file: {pki}/server.key, key_file: {pki}/server.key}", "");
  CHECK(key_as_cert.status.code == 1);
  CHECK_THAT(key_as_cert.err, Catch::Contains("holds no PEM certificate"));

  auto half = check("{cert_file: {pki}/server.crt}", "");
  CHECK(half.status.code == 1);
  CHECK_THAT(half.err, Catch::Contains("server.tls.key_file"));

  auto mtls_without_ca
    = check("{cert_file: {pki}/server.crt, key_file: {pki}/server.key}",
            "auth: {mode: mtls}\n");
  CHECK(mtls_without_ca.status.code == 1);
  CHECK_THAT(mtls_without_ca.err,
             Catch::Contains("auth.mode") && Catch::Contains("client_ca_file"));

  auto ca_without_mtls
    = check("{cert_file: {pki}/server.crt, key_file: {pki}/server.key, "
            "client_ca_file: {pki}/ca.crt}",
            "");
  CHECK(ca_without_mtls.status.code == 1);
  CHECK_THAT(ca_without_mtls.err, Catch::Contains("server.tls.client_ca_file"));
}
