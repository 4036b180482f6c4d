#pragma once

// Who is calling: with auth.mode token, a call's `authorization: Bearer
// <token>` metadata names its principal, found by the SHA-256 of the token
// (the config holds only hashes). Immutable once built; shared by every
// thread of the front end and the admin listener.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <grpcpp/server_context.h>

#include "config/config.hpp"
#include "kv/status.hpp"
#include "runtime/call.hpp"

namespace prism::frontend {

class authenticator {
public:
  explicit authenticator(const config::auth_options& options);

  bool enabled() const noexcept { return enabled_; }

  /// The principal of an `authorization` value "Bearer <token>"; none when it
  /// is missing, malformed or the token is unknown.
  std::optional<std::string> principal_of(std::string_view authorization) const;

  /// Whether `authorization` names a principal allowed the admin listener's
  /// mutating endpoints (always true when authentication is off).
  bool admin(std::string_view authorization) const;

private:
  bool enabled_ = false;
  /// SHA-256 (hex) of each token -> its principal.
  std::map<std::string, std::string> principals_;
  std::set<std::string> admins_;
};

/// Sets `rc.principal` from the call's metadata; UNAUTHENTICATED (saying
/// only how to authenticate, nothing of namespaces) when authentication is
/// on and the call does not carry a known token. A null `auth` is off.
status authenticate(const grpc::ServerContextBase& ctx,
                    const authenticator* auth, request_context& rc);

/// The key of the caller's session: its connection, and its principal when
/// it has one.
std::string session_key(const request_context& rc);

} // namespace prism::frontend
