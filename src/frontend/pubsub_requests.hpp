#pragma once

// What each PubSub request asks for, as the operation the actors carry.
// The service and the request fuzzer read a request through these alone,
// so what is fuzzed is what is served.

#include "model/operation.hpp"
#include "prism/v1/pubsub.pb.h"

namespace prism::frontend {

model::operation to_operation(const v1::PublishRequest& r);

/// A start position the API does not define becomes
/// model::start_position::unknown, which validation refuses.
model::operation to_operation(const v1::SubscribeRequest& r);

} // namespace prism::frontend
