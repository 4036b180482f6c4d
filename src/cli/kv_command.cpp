// `prism kv`: a small KeyValue client for trying the gateway by hand and for
// scripts. One subcommand per RPC that takes single keys, plus scan.

#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "cli/client.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "model/status.hpp"
#include "prism/v1/keyvalue.grpc.pb.h"

namespace prism::cli {

namespace {

struct kv_options {
  std::string target = defaults::grpc_listen;
  tls_client_options tls;
  uint32_t timeout_ms = defaults::cli_call_timeout_ms;
  std::string request_id;
  std::string ns;
  std::string key;
  std::string value;
  uint64_t ttl_ms = 0;
  std::optional<uint64_t> if_version;
  std::string prefix;
  std::string start_after;
  uint32_t limit = 0;
  bool keys_only = false;
};

/// Exit codes: 0 success, 1 the call failed (report_failure), 3 the key was
/// not found.
constexpr int exit_not_found = 3;

std::unique_ptr<v1::KeyValue::Stub> connect(const kv_options& opts) {
  return v1::KeyValue::NewStub(client_channel(opts.target, opts.tls));
}

void prepare(grpc::ClientContext& ctx, const kv_options& opts) {
  ctx.set_deadline(std::chrono::system_clock::now()
                   + std::chrono::milliseconds(opts.timeout_ms));
  if (!opts.request_id.empty())
    ctx.AddMetadata("x-request-id", opts.request_id);
  add_credentials(ctx);
}

template <class Request, class Response, class Call>
int invoke(const kv_options& opts, const Request& req, Response& resp,
           Call call) {
  auto stub = connect(opts);
  grpc::ClientContext ctx;
  prepare(ctx, opts);
  auto st = call(*stub, &ctx, req, &resp);
  return st.ok() ? 0 : report_failure(ctx, st);
}

int run_get(const kv_options& opts) {
  v1::GetRequest req;
  req.set_namespace_(opts.ns);
  req.set_key(opts.key);
  v1::GetResponse resp;
  int rc = invoke(opts, req, resp, [](auto& s, auto* c, auto& q, auto* r) {
    return s.Get(c, q, r);
  });
  if (rc != 0)
    return rc;
  if (!resp.found()) {
    std::cerr << "not found\n";
    return exit_not_found;
  }
  std::cout << resp.value() << '\n';
  std::cerr << "version " << resp.version() << '\n';
  return 0;
}

int run_set(const kv_options& opts) {
  v1::SetRequest req;
  req.set_namespace_(opts.ns);
  req.set_key(opts.key);
  req.set_value(opts.value);
  req.set_ttl_ms(opts.ttl_ms);
  if (opts.if_version)
    req.set_if_version(*opts.if_version);
  v1::SetResponse resp;
  int rc = invoke(opts, req, resp, [](auto& s, auto* c, auto& q, auto* r) {
    return s.Set(c, q, r);
  });
  if (rc == 0)
    std::cout << "version " << resp.version() << '\n';
  return rc;
}

int run_delete(const kv_options& opts) {
  v1::DeleteRequest req;
  req.set_namespace_(opts.ns);
  req.set_key(opts.key);
  v1::DeleteResponse resp;
  int rc = invoke(opts, req, resp, [](auto& s, auto* c, auto& q, auto* r) {
    return s.Delete(c, q, r);
  });
  if (rc == 0)
    std::cout << (resp.existed() ? "deleted" : "did not exist") << '\n';
  return rc;
}

int run_exists(const kv_options& opts) {
  v1::ExistsRequest req;
  req.set_namespace_(opts.ns);
  req.set_key(opts.key);
  v1::ExistsResponse resp;
  int rc = invoke(opts, req, resp, [](auto& s, auto* c, auto& q, auto* r) {
    return s.Exists(c, q, r);
  });
  if (rc != 0)
    return rc;
  std::cout << (resp.exists() ? "exists" : "absent") << '\n';
  return resp.exists() ? 0 : exit_not_found;
}

int run_scan(const kv_options& opts) {
  v1::ScanRequest req;
  req.set_namespace_(opts.ns);
  req.set_prefix(opts.prefix);
  req.set_start_after(opts.start_after);
  req.set_limit(opts.limit);
  req.set_keys_only(opts.keys_only);
  v1::ScanResponse resp;
  int rc = invoke(opts, req, resp, [](auto& s, auto* c, auto& q, auto* r) {
    return s.Scan(c, q, r);
  });
  if (rc != 0)
    return rc;
  for (auto& item : resp.items()) {
    std::cout << item.key();
    if (!opts.keys_only)
      std::cout << '\t' << item.value();
    std::cout << '\n';
  }
  if (!resp.next_start_after().empty())
    std::cerr << "more after: " << resp.next_start_after() << '\n';
  return 0;
}

CLI::App* add_rpc(CLI::App& kv, const char* name, const char* help,
                  std::shared_ptr<kv_options> opts,
                  int (*run)(const kv_options&), bool with_key) {
  auto* cmd = kv.add_subcommand(name, help);
  cmd->add_option("namespace", opts->ns, "Namespace")->required();
  if (with_key)
    cmd->add_option("key", opts->key, "Key")->required();
  cmd->callback([opts, run] {
    int rc = run(*opts);
    if (rc != 0)
      throw CLI::RuntimeError(rc);
  });
  return cmd;
}

} // namespace

void add_kv_command(CLI::App& app) {
  auto opts = std::make_shared<kv_options>();
  auto* kv = app.add_subcommand(
    "kv",
    "Call the KeyValue API of a running gateway (exit 0 ok, 1 failed, "
    "3 not found)");
  kv->footer("With auth.mode token, set PRISM_TOKEN to the token to send; "
             "with mtls, give --tls-cert and --tls-key.");
  kv->require_subcommand(1);
  kv->add_option("--target", opts->target, "Gateway address HOST:PORT")
    ->capture_default_str();
  add_tls_options(*kv, opts->tls);
  kv->add_option("--timeout-ms", opts->timeout_ms, "Deadline of the call")
    ->check(CLI::Range(1u, defaults::cli_duration_max_ms))
    ->capture_default_str();
  check_request_id(
    *kv->add_option("--request-id", opts->request_id,
                    "Send this x-request-id (the gateway makes one otherwise)"),
    defaults::request_id_bytes_max);

  add_rpc(*kv, "get", "Print a key's value (its version on stderr)", opts,
          run_get, true);
  auto* set = add_rpc(*kv, "set", "Write a key; prints its new version", opts,
                      run_set, true);
  set->add_option("value", opts->value, "Value")->required();
  check_unsigned(
    *set->add_option("--ttl-ms", opts->ttl_ms, "Expire after this many ms"));
  check_unsigned(*set->add_option(
    "--if-version", opts->if_version,
    "Write only if the current version is this (0: only if absent)"));
  add_rpc(*kv, "delete", "Remove a key", opts, run_delete, true);
  add_rpc(*kv, "exists", "Tell whether a key exists (exit 3 if not)", opts,
          run_exists, true);
  auto* scan = add_rpc(*kv, "scan",
                       "List keys (and values) in bytewise order, one page",
                       opts, run_scan, false);
  scan->add_option("--prefix", opts->prefix, "Only keys with this prefix");
  scan->add_option("--start-after", opts->start_after,
                   "Only keys after this one (a previous page's last key)");
  scan->add_option("--limit", opts->limit,
                   "Page size (0 = "
                     + std::to_string(defaults::scan_limit_default) + ", max "
                     + std::to_string(defaults::scan_limit_max) + ")");
  scan->add_flag("--keys-only", opts->keys_only, "Leave values out");
}

} // namespace prism::cli
