#include "frontend/authenticator.hpp"

#include <atomic>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include "model/digest.hpp"

namespace prism::frontend {

authenticator::authenticator(const config::auth_options& options)
  : mode_(options.mode), principal_from_(options.principal_from),
    tables_(make_tables(options)) {}

std::shared_ptr<const authenticator::tables> authenticator::make_tables(
  const config::auth_options& options) {
  auto t = std::make_shared<tables>();
  for (const auto& [principal, digest] : options.token_hashes)
    t->principals[digest] = principal;
  for (const auto& name : options.admins) {
    if (auto g = options.groups.find(name); g != options.groups.end())
      t->admins.insert(g->second.begin(), g->second.end());
    else
      t->admins.insert(name);
  }
  return t;
}

std::shared_ptr<const authenticator::tables> authenticator::current() const {
  return std::atomic_load(&tables_);
}

void authenticator::update(const config::auth_options& options) {
  std::atomic_store(&tables_, make_tables(options));
}

std::optional<std::string> authenticator::principal_of(
  std::string_view authorization) const {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size()
      || authorization.substr(0, scheme.size()) != scheme)
    return std::nullopt;
  auto token = authorization.substr(scheme.size());
  auto t = current();
  auto i = t->principals.find(model::sha256_hex(token));
  if (i == t->principals.end())
    return std::nullopt;
  return i->second;
}

std::optional<std::string> authenticator::principal_of(
  const grpc::AuthContext& peer) const {
  // Without a verified certificate gRPC reports no peer identity at all.
  if (!peer.IsPeerAuthenticated())
    return std::nullopt;
  const char* property = principal_from_ == config::principal_source::san
    ? GRPC_X509_SAN_PROPERTY_NAME
    : GRPC_X509_CN_PROPERTY_NAME;
  for (const auto& value : peer.FindPropertyValues(property))
    if (!value.empty())
      return std::string(value.data(), value.size());
  return std::nullopt;
}

bool authenticator::admin(std::string_view authorization) const {
  if (!enabled())
    return true;
  auto principal = principal_of(authorization);
  return principal && current()->admins.count(*principal) > 0;
}

status authenticate(const grpc::ServerContextBase& ctx,
                    const authenticator* auth, request_context& rc) {
  if (auth == nullptr || !auth->enabled())
    return {};
  if (auth->mode() != config::auth_mode::mtls)
    return authenticate_token(ctx.client_metadata(), *auth, rc);
  std::optional<std::string> principal;
  if (auto peer = ctx.auth_context())
    principal = auth->principal_of(*peer);
  if (!principal)
    return status::failure(status_code::unauthenticated,
                           "no verified client certificate: connect with "
                           "TLS and a certificate issued by the CA the "
                           "gateway trusts");
  rc.principal = std::move(*principal);
  return {};
}

status authenticate_token(const client_metadata& md, const authenticator& auth,
                          request_context& rc) {
  std::optional<std::string> principal;
  if (auto i = md.find("authorization"); i != md.end())
    principal
      = auth.principal_of(std::string_view(i->second.data(), i->second.size()));
  if (!principal)
    return status::failure(status_code::unauthenticated,
                           "missing or unknown credentials: send the "
                           "metadata \"authorization: Bearer <token>\" "
                           "with a token the gateway knows");
  rc.principal = std::move(*principal);
  return {};
}

const std::string& session_key(const request_context& rc) {
  // Built in a buffer of the thread's that keeps its capacity: one key per
  // call, and no allocation once the thread has seen a key that long.
  thread_local std::string key;
  key.assign(rc.peer);
  if (!rc.principal.empty())
    key.append(" as ").append(rc.principal);
  return key;
}

} // namespace prism::frontend
