#include "frontend/keyvalue_requests.hpp"

namespace prism::frontend {

model::operation to_operation(const v1::GetRequest& r) {
  return model::get_op{r.key()};
}

model::operation to_operation(const v1::SetRequest& r) {
  model::set_op op{r.key(), r.value(), r.ttl_ms(), {}};
  if (r.has_if_version())
    op.if_version = r.if_version();
  return op;
}

model::operation to_operation(const v1::DeleteRequest& r) {
  return model::delete_op{r.key()};
}

model::operation to_operation(const v1::ExistsRequest& r) {
  return model::exists_op{r.key()};
}

model::operation to_operation(const v1::BatchGetRequest& r) {
  model::batch_get_op op;
  op.keys.assign(r.keys().begin(), r.keys().end());
  return op;
}

model::operation to_operation(const v1::BatchSetRequest& r) {
  model::batch_set_op op;
  op.entries.reserve(static_cast<size_t>(r.entries_size()));
  for (auto& e : r.entries())
    op.entries.push_back(model::entry{e.key(), e.value(), e.ttl_ms()});
  return op;
}

model::operation to_operation(const v1::BatchDeleteRequest& r) {
  model::batch_delete_op op;
  op.keys.assign(r.keys().begin(), r.keys().end());
  return op;
}

model::operation to_operation(const v1::ScanRequest& r) {
  return model::scan_op{r.prefix(), r.start_after(), r.limit(), r.keys_only()};
}

} // namespace prism::frontend
