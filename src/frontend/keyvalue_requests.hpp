#pragma once

// What each KeyValue request asks for, as the operation the actors carry.
// The service's RPCs and the request fuzzer read a request through these
// alone, so what is fuzzed is what is served.

#include "model/operation.hpp"
#include "prism/v1/keyvalue.pb.h"

namespace prism::frontend {

model::operation to_operation(const v1::GetRequest& r);
model::operation to_operation(const v1::SetRequest& r);
model::operation to_operation(const v1::DeleteRequest& r);
model::operation to_operation(const v1::ExistsRequest& r);
model::operation to_operation(const v1::BatchGetRequest& r);
model::operation to_operation(const v1::BatchSetRequest& r);
model::operation to_operation(const v1::BatchDeleteRequest& r);
model::operation to_operation(const v1::ScanRequest& r);

} // namespace prism::frontend
