#pragma once

// Who is calling. With auth.mode token, a call's `authorization: Bearer
// <token>` metadata names its principal, found by the SHA-256 of the token
// (the config holds only hashes). With auth.mode mtls, the principal is a
// name in the client certificate that TLS verified against the configured
// CA; tokens then identify only the admin listener's callers.
//
// Shared by every thread of the front end and the admin listener. A config
// reload swaps the tables in one step (`update`); a call sees either the old
// tables or the new ones, never a mix.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <grpcpp/server_context.h>

#include "config/config.hpp"
#include "frontend/request_metadata.hpp"
#include "model/status.hpp"
#include "runtime/call.hpp"

namespace prism::frontend {

class authenticator {
public:
  explicit authenticator(const config::auth_options& options);

  bool enabled() const noexcept { return mode_ != config::auth_mode::none; }
  config::auth_mode mode() const noexcept { return mode_; }

  /// The principal of an `authorization` value "Bearer <token>"; none when it
  /// is missing, malformed or the token is unknown.
  std::optional<std::string> principal_of(std::string_view authorization) const;

  /// The principal of a verified client certificate (mode mtls): its
  /// subject common name, or its first subject alternative name with
  /// `principal_from: san`; none when the peer presented no certificate.
  std::optional<std::string> principal_of(const grpc::AuthContext& peer) const;

  /// Whether `authorization` names a principal allowed the admin listener's
  /// mutating endpoints (always true when authentication is off).
  bool admin(std::string_view authorization) const;

  /// Takes the tokens, groups and admins of a reloaded config. The mode and
  /// where certificates' principals come from stay as they were started
  /// (changing them needs a restart; the reload refuses it).
  void update(const config::auth_options& options);

private:
  struct tables {
    /// SHA-256 (hex) of each token -> its principal.
    std::map<std::string, std::string> principals;
    std::set<std::string> admins;
  };

  static std::shared_ptr<const tables> make_tables(
    const config::auth_options& options);
  std::shared_ptr<const tables> current() const;

  const config::auth_mode mode_;
  const config::principal_source principal_from_;
  /// Read and replaced with std::atomic_load/atomic_store.
  std::shared_ptr<const tables> tables_;
};

/// Sets `rc.principal` from the call's credentials; UNAUTHENTICATED (saying
/// only how to authenticate, nothing of namespaces) when authentication is
/// on and the call does not carry known credentials. A null `auth` is off.
status authenticate(const grpc::ServerContextBase& ctx,
                    const authenticator* auth, request_context& rc);

/// What authenticate does in mode token: sets `rc.principal` from the
/// `authorization` metadata in `md`, or answers UNAUTHENTICATED.
status authenticate_token(const client_metadata& md, const authenticator& auth,
                          request_context& rc);

/// The key of the caller's session: its connection, and its principal when
/// it has one. Valid until the thread's next call of it.
const std::string& session_key(const request_context& rc);

} // namespace prism::frontend
