#include "config/tls_files.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace prism::config {

namespace {

struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

/// Opens `path` for OpenSSL, or says why it cannot be read.
bio_ptr open_file(const std::string& path, std::string& why) {
  // A device or a pipe (/dev/zero, /dev/stdin) would be read without end.
  std::error_code ec;
  if (std::filesystem::exists(path, ec)
      && !std::filesystem::is_regular_file(path, ec)) {
    why = "cannot read " + path + ": it is not a regular file";
    return nullptr;
  }
  // std::ifstream gives errno for the message; OpenSSL's own error would
  // only say "no such file" without the reason's nuance (permissions).
  std::ifstream probe(path);
  if (!probe) {
    why = "cannot read " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  bio_ptr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio)
    why = "cannot read " + path;
  return bio;
}

x509_ptr first_certificate(const std::string& path, std::string& why) {
  auto bio = open_file(path, why);
  if (!bio)
    return nullptr;
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!cert)
    why = path + " holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")";
  return cert;
}

pkey_ptr private_key(const std::string& path, std::string& why) {
  auto bio = open_file(path, why);
  if (!bio)
    return nullptr;
  // No passphrase callback: a key protected by a passphrase cannot be used
  // by an unattended server and is reported as unreadable.
  pkey_ptr key(PEM_read_bio_PrivateKey(
    bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  ERR_clear_error();
  if (!key)
    why = path + " holds no unencrypted PEM private key";
  return key;
}

} // namespace

std::optional<std::string> read_pem_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in)
    text << in.rdbuf();
  if (!in || text.str().empty())
    return std::nullopt;
  return text.str();
}

std::string certificate_file_problem(const std::string& path) {
  std::string why;
  auto bio = open_file(path, why);
  if (!bio)
    return why;
  int count = 0;
  while (
    x509_ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    ++count;
    if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0)
      return "certificate " + std::to_string(count) + " in " + path
        + " has expired";
  }
  ERR_clear_error();
  if (count == 0)
    return path + " holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")";
  return {};
}

std::string private_key_file_problem(const std::string& path) {
  std::string why;
  private_key(path, why);
  return why;
}

std::string key_pair_problem(const std::string& cert_file,
                             const std::string& key_file) {
  std::string why;
  auto cert = first_certificate(cert_file, why);
  if (!cert)
    return why;
  auto key = private_key(key_file, why);
  if (!key)
    return why;
  int ok = X509_check_private_key(cert.get(), key.get());
  ERR_clear_error();
  if (ok != 1)
    return "the key in " + key_file + " is not the key of the certificate in "
      + cert_file;
  return {};
}

} // namespace prism::config
