#pragma once

#include <string>

#include "model/operation.hpp"

namespace prism::model {

/// Checks what can be decided without the namespace's config: a namespace is
/// named, keys are non-empty and at most defaults::key_bytes_max bytes,
/// batches are at most defaults::batch_keys_max long, a scan limit is at most
/// defaults::scan_limit_max (0 becomes the default page size). Returns the
/// first problem as INVALID_ARGUMENT, naming the field.
status validate_request(const std::string& ns, operation& op);

} // namespace prism::model
