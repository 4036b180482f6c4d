#include "frontend/authenticator.hpp"

#include "kv/digest.hpp"

namespace prism::frontend {

authenticator::authenticator(const config::auth_options& options)
  : enabled_(options.mode == config::auth_mode::token) {
  for (const auto& [principal, digest] : options.token_hashes)
    principals_[digest] = principal;
  for (const auto& name : options.admins) {
    if (auto g = options.groups.find(name); g != options.groups.end())
      admins_.insert(g->second.begin(), g->second.end());
    else
      admins_.insert(name);
  }
}

std::optional<std::string>
authenticator::principal_of(std::string_view authorization) const {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size()
      || authorization.substr(0, scheme.size()) != scheme)
    return std::nullopt;
  auto token = authorization.substr(scheme.size());
  auto i = principals_.find(kv::sha256_hex(token));
  if (i == principals_.end())
    return std::nullopt;
  return i->second;
}

bool authenticator::admin(std::string_view authorization) const {
  if (!enabled_)
    return true;
  auto principal = principal_of(authorization);
  return principal && admins_.count(*principal) > 0;
}

status authenticate(const grpc::ServerContextBase& ctx,
                    const authenticator* auth, request_context& rc) {
  if (auth == nullptr || !auth->enabled())
    return {};
  auto& md = ctx.client_metadata();
  auto i = md.find("authorization");
  std::optional<std::string> principal;
  if (i != md.end())
    principal = auth->principal_of(
      std::string_view(i->second.data(), i->second.size()));
  if (!principal)
    return status::failure(status_code::unauthenticated,
                           "missing or unknown credentials: send the "
                           "metadata \"authorization: Bearer <token>\" with "
                           "a token the gateway knows");
  rc.principal = std::move(*principal);
  return {};
}

std::string session_key(const request_context& rc) {
  return rc.principal.empty() ? rc.peer : rc.peer + " as " + rc.principal;
}

} // namespace prism::frontend
