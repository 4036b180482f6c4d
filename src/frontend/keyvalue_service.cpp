#include "frontend/keyvalue_service.hpp"

#include "frontend/keyvalue_requests.hpp"
#include "frontend/unary_call.hpp"

namespace prism::frontend {

namespace {

// --- an item of a batch or scan answer -------------------------------------

void copy_item(v1::Item& out, model::item&& in) {
  out.set_key(std::move(in.key));
  out.set_found(in.found);
  out.set_value(std::move(in.value));
  out.set_version(in.version);
}

// --- the RPCs: request and response types, how gRPC is asked for one, and
// the operation a request asks for, the response a result fills -----------

using async_service = v1::KeyValue::AsyncService;

struct get_rpc {
  using service = async_service;
  using request = v1::GetRequest;
  using response = v1::GetResponse;
  static constexpr auto request_call = &async_service::RequestGet;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    auto& x = std::get<model::get_result>(r);
    out.set_found(x.found);
    out.set_value(std::move(x.value));
    out.set_version(x.version);
  }
};

struct set_rpc {
  using service = async_service;
  using request = v1::SetRequest;
  using response = v1::SetResponse;
  static constexpr auto request_call = &async_service::RequestSet;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    out.set_version(std::get<model::set_result>(r).version);
  }
};

struct delete_rpc {
  using service = async_service;
  using request = v1::DeleteRequest;
  using response = v1::DeleteResponse;
  static constexpr auto request_call = &async_service::RequestDelete;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    out.set_existed(std::get<model::delete_result>(r).existed);
  }
};

struct exists_rpc {
  using service = async_service;
  using request = v1::ExistsRequest;
  using response = v1::ExistsResponse;
  static constexpr auto request_call = &async_service::RequestExists;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    out.set_exists(std::get<model::exists_result>(r).exists);
  }
};

struct batch_get_rpc {
  using service = async_service;
  using request = v1::BatchGetRequest;
  using response = v1::BatchGetResponse;
  static constexpr auto request_call = &async_service::RequestBatchGet;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    auto& x = std::get<model::batch_get_result>(r);
    out.mutable_items()->Reserve(static_cast<int>(x.items.size()));
    for (auto& item : x.items)
      copy_item(*out.add_items(), std::move(item));
  }
};

struct batch_set_rpc {
  using service = async_service;
  using request = v1::BatchSetRequest;
  using response = v1::BatchSetResponse;
  static constexpr auto request_call = &async_service::RequestBatchSet;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    auto& x = std::get<model::batch_set_result>(r);
    out.mutable_versions()->Reserve(static_cast<int>(x.versions.size()));
    for (auto v : x.versions)
      out.add_versions(v);
  }
};

struct batch_delete_rpc {
  using service = async_service;
  using request = v1::BatchDeleteRequest;
  using response = v1::BatchDeleteResponse;
  static constexpr auto request_call = &async_service::RequestBatchDelete;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    out.set_deleted(std::get<model::batch_delete_result>(r).deleted);
  }
};

struct scan_rpc {
  using service = async_service;
  using request = v1::ScanRequest;
  using response = v1::ScanResponse;
  static constexpr auto request_call = &async_service::RequestScan;
  static model::operation operation(const request& r) {
    return to_operation(r);
  }
  static void fill(response& out, model::result&& r) {
    auto& x = std::get<model::scan_result>(r);
    out.mutable_items()->Reserve(static_cast<int>(x.items.size()));
    for (auto& item : x.items)
      copy_item(*out.add_items(), std::move(item));
    out.set_next_start_after(std::move(x.next_start_after));
  }
};

} // namespace

keyvalue_service::keyvalue_service(frontend_core_ptr core)
  : core_(std::move(core)) {}

void keyvalue_service::start(
  const std::vector<grpc::ServerCompletionQueue*>& cqs) {
  for (auto* cq : cqs)
    request_unary_calls<get_rpc, set_rpc, delete_rpc, exists_rpc, batch_get_rpc,
                        batch_set_rpc, batch_delete_rpc, scan_rpc>(core_,
                                                                   async_, cq);
}

} // namespace prism::frontend
