#pragma once

// Checks of the PEM files named under server.tls, so that a wrong path, a
// key that belongs to another certificate or an expired certificate is
// reported by `prism check` with its field rather than by gRPC at start-up
// as "failed to build the server".

#include <optional>
#include <string>

namespace prism::config {

/// The whole content of `path`; none when it cannot be read or is empty.
/// For the gateway's and the clients' TLS files, which go to gRPC as text.
std::optional<std::string> read_pem_file(const std::string& path);

/// Why `path` does not hold at least one PEM certificate, or holds an
/// expired one (empty when it is fine).
std::string certificate_file_problem(const std::string& path);

/// Why `path` does not hold a PEM private key (empty when it does).
std::string private_key_file_problem(const std::string& path);

/// Why the key in `key_file` is not the key of the first certificate in
/// `cert_file` (empty when it is). Both files must have passed the checks
/// above.
std::string key_pair_problem(const std::string& cert_file,
                             const std::string& key_file);

} // namespace prism::config
