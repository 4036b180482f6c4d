// Smoke tests of the servers the PubSub backends are tested against: the
// local Kafka (prism-kafka-mock) and NATS with JetStream, both started by
// scripts/test-servers, which exports where they listen. A missing variable
// fails the test: these servers are part of the test setup, not optional.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>
#include <nats/nats.h>

#include "test_servers.hpp"

namespace {

using prism::test::kafka_control;
using prism::test::require_env;

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A name no other test run against the same servers uses.
std::string unique_name(const std::string& prefix) {
  static int counter = 0;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(now)
    + "-" + std::to_string(++counter);
}

// --- the mock cluster's control port -------------------------------------------

int kafka_broker_count() {
  auto servers = require_env("PRISM_TEST_KAFKA_BOOTSTRAP");
  return 1 + static_cast<int>(std::count(servers.begin(), servers.end(), ','));
}

// --- Kafka clients -------------------------------------------------------------

struct kafka_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using kafka_handle = std::unique_ptr<rd_kafka_t, kafka_deleter>;

rd_kafka_conf_t* kafka_config(
  const std::map<std::string, std::string>& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& [key, value] : settings)
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr,
                          sizeof errstr)
        != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      FAIL("librdkafka rejects " << key << "=" << value << ": " << errstr);
    }
  return conf;
}

struct delivery {
  int id = -1;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string value;
};

/// A producer that records every delivery report; reports arrive on the
/// thread that calls wait_reports().
class producer {
public:
  explicit producer(std::map<std::string, std::string> settings) {
    settings["bootstrap.servers"] = require_env("PRISM_TEST_KAFKA_BOOTSTRAP");
    rd_kafka_conf_t* conf = kafka_config(settings);
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char errstr[512];
    handle_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr));
    if (!handle_) {
      rd_kafka_conf_destroy(conf);
      FAIL("cannot create a producer: " << errstr);
    }
  }

  ~producer() {
    // Nothing may outlive the test: what is still queued is dropped (and
    // reported as purged, which nobody reads any more).
    rd_kafka_purge(handle_.get(),
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(handle_.get(), 0);
  }

  rd_kafka_t* get() const { return handle_.get(); }

  /// Queues VALUE for TOPIC's PARTITION; returns its id in reports().
  int produce(const std::string& topic, int32_t partition,
              const std::string& value) {
    int id = next_id_++;
    auto err = rd_kafka_producev(
      handle_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
      RD_KAFKA_V_PARTITION(partition),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<intptr_t>(id))),
      RD_KAFKA_V_END);
    if (err)
      FAIL("produce to " << topic << "/" << partition
                         << " refused: " << rd_kafka_err2str(err));
    return id;
  }

  /// Serves delivery reports until COUNT arrived or the deadline passed.
  bool wait_reports(size_t count, steady::time_point deadline) {
    while (reports_.size() < count && steady::now() < deadline)
      rd_kafka_poll(handle_.get(), 100);
    return reports_.size() >= count;
  }

  const std::vector<delivery>& reports() const { return reports_; }

private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg,
                          void* opaque) {
    auto* self = static_cast<producer*>(opaque);
    delivery d;
    d.id = static_cast<int>(reinterpret_cast<intptr_t>(msg->_private));
    d.err = msg->err;
    d.partition = msg->partition;
    d.offset = msg->offset;
    d.value.assign(static_cast<const char*>(msg->payload), msg->len);
    self->reports_.push_back(d);
  }

  kafka_handle handle_;
  std::vector<delivery> reports_;
  int next_id_ = 0;
};

struct consumed {
  int64_t offset;
  std::string value;
};

/// Reads TOPIC's PARTITION from its first offset until COUNT messages came
/// or the deadline passed. Partitions are assigned, not subscribed: no group
/// rebalance, no committed offsets.
std::vector<consumed> consume(const std::string& topic, int32_t partition,
                              size_t count, steady::time_point deadline) {
  rd_kafka_conf_t* conf = kafka_config({
    {"bootstrap.servers", require_env("PRISM_TEST_KAFKA_BOOTSTRAP")},
    {"group.id", unique_name("smoke-reader")},
    {"enable.auto.commit", "false"},
    {"auto.offset.reset", "earliest"},
  });
  char errstr[512];
  kafka_handle rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    FAIL("cannot create a consumer: " << errstr);
  }
  rd_kafka_poll_set_consumer(rk.get());
  auto* parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, topic.c_str(), partition)->offset
    = RD_KAFKA_OFFSET_BEGINNING;
  auto err = rd_kafka_assign(rk.get(), parts);
  rd_kafka_topic_partition_list_destroy(parts);
  REQUIRE(err == RD_KAFKA_RESP_ERR_NO_ERROR);

  std::vector<consumed> out;
  while (out.size() < count && steady::now() < deadline) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk.get(), 100);
    if (msg == nullptr)
      continue;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
      out.push_back(
        {msg->offset,
         std::string(static_cast<const char*>(msg->payload), msg->len)});
    else
      WARN("consumer: " << rd_kafka_message_errstr(msg));
    rd_kafka_message_destroy(msg);
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

/// The broker that leads TOPIC's PARTITION, as the cluster's metadata says.
int32_t partition_leader(rd_kafka_t* rk, const std::string& topic,
                         int32_t partition) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  REQUIRE(rkt != nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (err)
    FAIL("metadata of " << topic << ": " << rd_kafka_err2str(err));
  int32_t leader = -1;
  for (int t = 0; t < md->topic_cnt; ++t)
    if (topic == md->topics[t].topic)
      for (int p = 0; p < md->topics[t].partition_cnt; ++p)
        if (md->topics[t].partitions[p].id == partition)
          leader = md->topics[t].partitions[p].leader;
  rd_kafka_metadata_destroy(md);
  return leader;
}

/// Takes a broker down for its lifetime, and up again however the test ends.
class broker_down {
public:
  explicit broker_down(int32_t id) : id_(id) {
    REQUIRE(kafka_control("down " + std::to_string(id_)) == "ok");
  }
  ~broker_down() {
    if (up_)
      return;
    try {
      kafka_control("up " + std::to_string(id_));
    } catch (...) {
      // Already unwinding from a failure; this one is recorded too.
    }
  }
  void up() {
    REQUIRE(kafka_control("up " + std::to_string(id_)) == "ok");
    up_ = true;
  }

private:
  int32_t id_;
  bool up_ = false;
};

/// Creates TOPIC with PARTITIONS on the cluster and pins partition 0 on
/// broker LEADER.
void create_topic(const std::string& topic, int partitions, int32_t leader) {
  REQUIRE(kafka_control("topic " + topic + " " + std::to_string(partitions))
          == "ok");
  REQUIRE(kafka_control("leader " + topic + " 0 " + std::to_string(leader))
          == "ok");
}

const std::map<std::string, std::string> reliable_producer{
  {"acks", "all"},
  {"enable.idempotence", "true"},
  {"linger.ms", "1"},
};

// --- NATS -----------------------------------------------------------------------

#define NATS_REQUIRE(call)                                                     \
  do {                                                                         \
    natsStatus nats_status_ = (call);                                          \
    if (nats_status_ != NATS_OK)                                               \
      FAIL(#call << ": " << natsStatus_GetText(nats_status_) << " ("           \
                 << nats_GetLastError(nullptr) << ")");                        \
  } while (false)

struct nats_deleters {
  void operator()(natsConnection* nc) const { natsConnection_Destroy(nc); }
  void operator()(natsSubscription* sub) const {
    natsSubscription_Destroy(sub);
  }
  void operator()(natsMsg* msg) const { natsMsg_Destroy(msg); }
  void operator()(jsCtx* js) const { jsCtx_Destroy(js); }
};
using nats_connection = std::unique_ptr<natsConnection, nats_deleters>;
using nats_subscription = std::unique_ptr<natsSubscription, nats_deleters>;
using nats_message = std::unique_ptr<natsMsg, nats_deleters>;
using jetstream = std::unique_ptr<jsCtx, nats_deleters>;

nats_connection nats_connect() {
  auto url = require_env("PRISM_TEST_NATS_URL");
  natsOptions* raw_opts = nullptr;
  NATS_REQUIRE(natsOptions_Create(&raw_opts));
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> opts(
    raw_opts, natsOptions_Destroy);
  NATS_REQUIRE(natsOptions_SetURL(opts.get(), url.c_str()));
  NATS_REQUIRE(natsOptions_SetTimeout(opts.get(), 5000));
  natsConnection* nc = nullptr;
  NATS_REQUIRE(natsConnection_Connect(&nc, opts.get()));
  return nats_connection(nc);
}

jetstream jetstream_of(natsConnection* nc) {
  jsOptions opts;
  NATS_REQUIRE(jsOptions_Init(&opts));
  opts.Wait = 10000;
  jsCtx* js = nullptr;
  NATS_REQUIRE(natsConnection_JetStream(&js, nc, &opts));
  return jetstream(js);
}

std::string data_of(natsMsg* msg) {
  return std::string(natsMsg_GetData(msg),
                     static_cast<size_t>(natsMsg_GetDataLength(msg)));
}

/// A fetched message and the subscription it came through, which must live
/// until the message is acknowledged (members go in reverse order).
struct fetched {
  nats_subscription sub;
  nats_message msg;
};

/// Binds a pull subscription to the existing durable CONSUMER of STREAM and
/// fetches one message.
fetched fetch_one(jsCtx* js, const std::string& stream,
                  const std::string& consumer, const std::string& subject) {
  jsSubOptions so;
  NATS_REQUIRE(jsSubOptions_Init(&so));
  so.Stream = stream.c_str();
  so.Consumer = consumer.c_str();
  natsSubscription* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  NATS_REQUIRE(js_PullSubscribe(&raw, js, subject.c_str(), consumer.c_str(),
                                nullptr, &so, &jerr));
  // Destroying it without unsubscribing keeps the durable consumer.
  nats_subscription sub(raw);
  natsMsgList list{nullptr, 0};
  NATS_REQUIRE(natsSubscription_Fetch(&list, sub.get(), 1, 10000, &jerr));
  REQUIRE(list.Count == 1);
  nats_message msg(list.Msgs[0]);
  list.Msgs[0] = nullptr;
  natsMsgList_Destroy(&list);
  return fetched{std::move(sub), std::move(msg)};
}

} // namespace

// --- Kafka ------------------------------------------------------------------------

TEST_CASE(
  "Kafka: ten messages produced with acks=all and idempotence come back in order",
  "[e2e][kafka]") {
  // Partition 0 is pinned on broker 1, which the fault tests never take down.
  auto topic = unique_name("smoke-order");
  create_topic(topic, 1, 1);
  auto deadline = steady::now() + 30s;

  producer p(reliable_producer);
  std::vector<std::string> sent;
  for (int i = 0; i < 10; ++i) {
    sent.push_back("message-" + std::to_string(i));
    p.produce(topic, 0, sent.back());
  }
  REQUIRE(p.wait_reports(10, deadline));
  int64_t previous = -1;
  for (const auto& r : p.reports()) {
    INFO("report of message " << r.id << ": " << rd_kafka_err2str(r.err));
    REQUIRE(r.err == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(r.partition == 0);
    CHECK(r.offset == previous + 1); // reported in order, no gaps
    previous = r.offset;
  }

  auto got = consume(topic, 0, 10, deadline);
  REQUIRE(got.size() == 10);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].offset == p.reports()[i].offset);
    CHECK(got[i].value == sent[i]);
  }
}

TEST_CASE(
  "Kafka: a produce to a partition whose leader is down is delivered after "
  "failover or reported failed, never lost",
  "[e2e][kafka][faults]") {
  int brokers = kafka_broker_count();
  REQUIRE(brokers >= 2);
  // The fault tests only ever take down the last broker.
  const int32_t victim = brokers;
  const bool failover = GENERATE(false, true);
  INFO((failover ? "the partition moves to broker 1 while its leader is down"
                 : "the partition stays on its down leader"));

  auto topic = unique_name(failover ? "smoke-failover" : "smoke-down");
  create_topic(topic, 3, victim);
  // Without failover the message timeout bounds how long the reports take;
  // with it, the timeout leaves ample room to find the new leader, which a
  // short metadata refresh interval makes the client see within a second.
  auto settings = reliable_producer;
  settings["message.timeout.ms"] = failover ? "20000" : "3000";
  settings["topic.metadata.refresh.interval.ms"] = "1000";
  settings["reconnect.backoff.max.ms"] = "1000";
  producer p(settings);

  p.produce(topic, 0, "before");
  REQUIRE(p.wait_reports(1, steady::now() + 20s));
  REQUIRE(p.reports()[0].err == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(partition_leader(p.get(), topic, 0) == victim);

  std::vector<std::string> during;
  {
    broker_down down(victim);
    if (failover)
      REQUIRE(kafka_control("leader " + topic + " 0 1") == "ok");
    for (int i = 0; i < 5; ++i) {
      during.push_back("during-" + std::to_string(i));
      p.produce(topic, 0, during.back());
    }
    // Every message gets a report: delivered, or failed with a reason.
    REQUIRE(p.wait_reports(1 + during.size(), steady::now() + 30s));
    down.up();
  }

  std::vector<delivery> delivered;
  std::vector<delivery> failed;
  for (size_t i = 1; i < p.reports().size(); ++i) {
    const auto& r = p.reports()[i];
    (r.err == RD_KAFKA_RESP_ERR_NO_ERROR ? delivered : failed).push_back(r);
  }
  std::ostringstream outcome;
  outcome << delivered.size() << " delivered, " << failed.size() << " failed";
  for (const auto& r : failed)
    outcome << "; " << r.value << ": " << rd_kafka_err2name(r.err);
  INFO(outcome.str());
  CHECK(delivered.size() + failed.size() == during.size());
  if (failover)
    CHECK(delivered.size() == during.size()); // a leader was there all along
  for (const auto& r : failed)
    CHECK(r.err != RD_KAFKA_RESP_ERR_NO_ERROR);

  // With the broker back, the same producer delivers again.
  p.produce(topic, 0, "after");
  REQUIRE(p.wait_reports(2 + during.size(), steady::now() + 30s));
  const auto& after = p.reports().back();
  INFO(
    "the produce after the broker came back: " << rd_kafka_err2str(after.err));
  REQUIRE(after.err == RD_KAFKA_RESP_ERR_NO_ERROR);

  // What was reported delivered is in the log, once, in order; "after" too.
  size_t expected = 2 + delivered.size();
  auto got = consume(topic, 0, expected, steady::now() + 30s);
  std::vector<std::string> values;
  for (const auto& m : got)
    values.push_back(m.value);
  std::vector<std::string> want{"before"};
  for (const auto& r : delivered)
    want.push_back(r.value);
  want.push_back("after");
  CHECK(values == want);
  std::set<std::string> unique(values.begin(), values.end());
  CHECK(unique.size() == values.size());
}

// --- NATS ---------------------------------------------------------------------------

TEST_CASE("NATS: a core publish reaches a subscriber on another connection",
          "[e2e][nats]") {
  auto subject = "prism.smoke." + unique_name("core");
  auto subscriber = nats_connect();
  auto publisher = nats_connect();

  natsSubscription* raw = nullptr;
  NATS_REQUIRE(
    natsConnection_SubscribeSync(&raw, subscriber.get(), subject.c_str()));
  nats_subscription sub(raw);
  // The server has the subscription once it answered the flush's PING.
  NATS_REQUIRE(natsConnection_FlushTimeout(subscriber.get(), 5000));

  NATS_REQUIRE(
    natsConnection_PublishString(publisher.get(), subject.c_str(), "hello"));
  NATS_REQUIRE(natsConnection_FlushTimeout(publisher.get(), 5000));

  natsMsg* msg = nullptr;
  NATS_REQUIRE(natsSubscription_NextMsg(&msg, sub.get(), 10000));
  nats_message got(msg);
  CHECK(std::string(natsMsg_GetSubject(got.get())) == subject);
  CHECK(data_of(got.get()) == "hello");
}

TEST_CASE(
  "NATS: a durable JetStream consumer gets a message published before it connected",
  "[e2e][nats][jetstream]") {
  auto name = unique_name("SMOKE");
  auto subject = "prism.smoke." + name;
  const std::string stream = name;
  const std::string durable = name + "-reader";

  // One connection creates the stream, stores a message and goes away.
  {
    auto nc = nats_connect();
    auto js = jetstream_of(nc.get());
    jsStreamConfig cfg;
    NATS_REQUIRE(jsStreamConfig_Init(&cfg));
    const char* subjects[] = {subject.c_str()};
    cfg.Name = stream.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    NATS_REQUIRE(js_AddStream(&si, js.get(), &cfg, nullptr, &jerr));
    jsStreamInfo_Destroy(si);

    jsPubAck* ack = nullptr;
    NATS_REQUIRE(js_Publish(&ack, js.get(), subject.c_str(), "stored-first", 12,
                            nullptr, &jerr));
    CHECK(ack->Sequence == 1);
    jsPubAck_Destroy(ack);
  }

  // A new connection creates a durable consumer and gets the stored message.
  {
    auto nc = nats_connect();
    auto js = jetstream_of(nc.get());
    jsConsumerConfig cc;
    NATS_REQUIRE(jsConsumerConfig_Init(&cc));
    cc.Durable = durable.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    NATS_REQUIRE(
      js_AddConsumer(&ci, js.get(), stream.c_str(), &cc, nullptr, &jerr));
    jsConsumerInfo_Destroy(ci);

    auto got = fetch_one(js.get(), stream, durable, subject);
    CHECK(data_of(got.msg.get()) == "stored-first");
    NATS_REQUIRE(natsMsg_AckSync(got.msg.get(), nullptr, &jerr));
  }

  // The consumer outlives its connections: the next reader gets only what
  // was not acknowledged yet.
  {
    auto nc = nats_connect();
    auto js = jetstream_of(nc.get());
    jsPubAck* ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    NATS_REQUIRE(js_Publish(&ack, js.get(), subject.c_str(), "stored-second",
                            13, nullptr, &jerr));
    jsPubAck_Destroy(ack);
    auto got = fetch_one(js.get(), stream, durable, subject);
    CHECK(data_of(got.msg.get()) == "stored-second");
    NATS_REQUIRE(natsMsg_AckSync(got.msg.get(), nullptr, &jerr));
    NATS_REQUIRE(js_DeleteStream(js.get(), stream.c_str(), nullptr, &jerr));
  }
}
