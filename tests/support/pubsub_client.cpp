#include "pubsub_client.hpp"

#include <map>
#include <set>

#include <catch2/catch.hpp>

namespace prism::test {

pubsub_stub_ptr pubsub_stub(const gateway_process& gw) {
  return prism::v1::PubSub::NewStub(gw.channel());
}

grpc::Status try_publish(prism::v1::PubSub::Stub& stub, const std::string& ns,
                         const std::string& topic, const std::string& payload,
                         const std::map<std::string, std::string>& md,
                         std::string& message_id,
                         std::chrono::milliseconds timeout,
                         const std::string& token) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  if (!token.empty())
    ctx.AddMetadata("authorization", "Bearer " + token);
  prism::v1::PublishRequest req;
  req.set_namespace_(ns);
  req.set_topic(topic);
  req.set_payload(payload);
  for (auto& [k, v] : md)
    (*req.mutable_metadata())[k] = v;
  prism::v1::PublishResponse resp;
  auto st = stub.Publish(&ctx, req, &resp);
  message_id = resp.message_id();
  return st;
}

std::string publish(prism::v1::PubSub::Stub& stub, const std::string& ns,
                    const std::string& topic, const std::string& payload,
                    const std::map<std::string, std::string>& md) {
  std::string id;
  auto st = try_publish(stub, ns, topic, payload, md, id);
  INFO(st.error_code() << ": " << st.error_message());
  REQUIRE(st.ok());
  return id;
}

subscriber::subscriber(const gateway_process& gw, const std::string& ns,
                       const std::string& topic, const std::string& name,
                       prism::v1::StartPosition start,
                       std::chrono::milliseconds lifetime,
                       const std::string& token)
  : stub_(pubsub_stub(gw)) {
  ctx_.set_deadline(std::chrono::system_clock::now() + lifetime);
  if (!token.empty())
    ctx_.AddMetadata("authorization", "Bearer " + token);
  prism::v1::SubscribeRequest req;
  req.set_namespace_(ns);
  req.set_topic(topic);
  req.set_subscription(name);
  req.set_start(start);
  reader_ = stub_->Subscribe(&ctx_, req);
  reader_->WaitForInitialMetadata();
}

subscriber::~subscriber() {
  ctx_.TryCancel();
  if (reader_) {
    prism::v1::Message m;
    while (reader_->Read(&m)) {
    }
    reader_->Finish();
  }
}

std::vector<prism::v1::Message> subscriber::read(size_t n) {
  std::vector<prism::v1::Message> out;
  prism::v1::Message m;
  while (out.size() < n && reader_->Read(&m))
    out.push_back(m);
  REQUIRE(out.size() == n);
  return out;
}

grpc::Status subscriber::cancel() {
  ctx_.TryCancel();
  prism::v1::Message m;
  while (reader_->Read(&m)) {
  }
  auto st = reader_->Finish();
  reader_.reset();
  return st;
}

void subscriber::drain_up_to(size_t n, std::vector<prism::v1::Message>& got) {
  prism::v1::Message m;
  while (got.size() < n && reader_->Read(&m))
    got.push_back(m);
}

grpc::Status subscriber::drain(std::vector<prism::v1::Message>& got) {
  prism::v1::Message m;
  while (reader_->Read(&m))
    got.push_back(m);
  auto st = reader_->Finish();
  reader_.reset();
  return st;
}

std::vector<std::string> payloads(const std::vector<prism::v1::Message>& ms) {
  std::vector<std::string> out;
  for (auto& m : ms)
    out.push_back(m.payload());
  return out;
}

void check_complete_and_ordered(const std::vector<std::string>& got,
                                size_t expected) {
  std::set<std::string> unique(got.begin(), got.end());
  CHECK(unique.size() == expected);
  CHECK(got.size() == expected);
  std::map<std::string, int> last;
  for (auto& p : got) {
    auto dash = p.find('-');
    auto who = p.substr(0, dash);
    auto seq = std::stoi(p.substr(dash + 1));
    auto it = last.find(who);
    if (it != last.end())
      CHECK(seq > it->second);
    last[who] = seq;
  }
}

std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(prefix + std::to_string(i));
  return out;
}

} // namespace prism::test
