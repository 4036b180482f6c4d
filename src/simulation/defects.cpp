#include "simulation/defects.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>

#include <caf/atom.hpp>
#include <caf/mailbox_element.hpp>

#include "runtime/call.hpp"
#include "simulation/deterministic_gateway.hpp"
#include "simulation/scenario.hpp"

namespace prism::simulation {

namespace {

/// The call of a message (tag, call), when `tag` is its first element.
const call_ptr* call_of(caf::mailbox_element& next, caf::atom_value tag) {
  auto& content = next.content();
  if (content.size() < 2 || !content.match_element<caf::atom_value>(0)
      || content.get_as<caf::atom_value>(0) != tag
      || !content.match_element<call_ptr>(1))
    return nullptr;
  auto& call = content.get_as<call_ptr>(1);
  return call ? &call : nullptr;
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// --- ack_before_write -------------------------------------------------------

void plant_ack_before_write(deterministic_gateway& g, const scenario& s) {
  for (auto& [name, backend] : s.gateway.backends)
    if (backend.type == config::backend_type::memory
        || backend.type == config::backend_type::sqlite
        || backend.type == config::backend_type::postgres)
      g.backend(name).set_ack_before_write(ack_before_write_checkpoint_ms);
}

// --- stage_ok_without_forward -----------------------------------------------

/// Answers every stage_skip_every_sets-th Set a stage sees on its way in with
/// OK, in place of the stage, instead of letting it go on to the backend. The
/// version it answers is one past the highest any answer carried so far, as
/// a backend would have given.
class stage_skipper final : public interceptor {
public:
  interception before(const std::string& label,
                      caf::mailbox_element& next) override {
    if (starts_with(label, "session:"))
      observe_reply(next);
    if (!starts_with(label, "stage:"))
      return {};
    auto* call = call_of(next, caf::atom("request"));
    if (!call)
      return {};
    auto* set = std::get_if<model::set_op>((*call)->operation.get());
    if (!set || set->if_version)
      return {};
    if (++sets_ % stage_skip_every_sets != 0)
      return {};
    interception skip;
    skip.what = interception::action::answer;
    skip.outcome = model::outcome::success(model::set_result{++version_max_});
    skip.note = "planted defect stage_ok_without_forward";
    return skip;
  }

private:
  void observe_reply(caf::mailbox_element& next) {
    auto& content = next.content();
    if (content.size() != 3 || !content.match_element<model::outcome>(2))
      return;
    auto& outcome = content.get_as<model::outcome>(2);
    if (auto* r = std::get_if<model::set_result>(&outcome.value))
      version_max_ = std::max(version_max_, r->version);
    else if (auto* b = std::get_if<model::batch_set_result>(&outcome.value))
      for (auto v : b->versions)
        version_max_ = std::max(version_max_, v);
  }

  uint64_t sets_ = 0;
  uint64_t version_max_ = 0;
};

void plant_stage_ok_without_forward(deterministic_gateway& g, const scenario&) {
  g.add_interceptor(std::make_shared<stage_skipper>());
}

// --- pool_forgets_queued_call -----------------------------------------------

/// Keeps the calls a pool took while they are still its own: when the pool
/// ends, those that nobody else holds any more (they waited in its queue)
/// are kept from completing, so they are never answered. Every other call it
/// holds goes the moment it is answered or nobody else holds it (it then
/// completes itself, as it would have without this).
class pool_amnesia final : public interceptor {
public:
  explicit pool_amnesia(deterministic_gateway& g) : g_(g) {}

  interception before(const std::string& label,
                      caf::mailbox_element& next) override {
    if (starts_with(label, "pool:"))
      if (auto* call = call_of(next, caf::atom("request")))
        held_[label].push_back(*call);
    return {};
  }

  void after(const std::string& label, bool ended) override {
    if (ended) {
      auto i = held_.find(label);
      if (i != held_.end()) {
        for (auto& call : i->second)
          if (!call->completed() && call->get_reference_count() == 1) {
            g_.note("defect " + label + " forgot queued "
                    + call->context.request_id
                    + " (planted defect pool_forgets_queued_call)");
            forgotten_.push_back(call);
          }
        held_.erase(i);
      }
    }
    for (auto& [pool, calls] : held_) {
      auto gone = [](const call_ptr& call) {
        return call->completed() || call->get_reference_count() == 1;
      };
      calls.erase(std::remove_if(calls.begin(), calls.end(), gone),
                  calls.end());
    }
  }

  void gateway_crashed() override {
    held_.clear();
    forgotten_.clear();
  }

private:
  deterministic_gateway& g_;
  std::map<std::string, std::vector<call_ptr>> held_;
  std::vector<call_ptr> forgotten_;
};

void plant_pool_forgets_queued_call(deterministic_gateway& g, const scenario&) {
  g.add_interceptor(std::make_shared<pool_amnesia>(g));
}

} // namespace

const std::vector<defect_info>& defects() {
  static const std::vector<defect_info> table{
    {"ack_before_write", "no_lost_writes, linearizable",
     "the simulated backend acknowledges a write before it is durable: it "
     "is made durable at checkpoints 200 ms apart, and a broken connection "
     "(connection_crash, outage, restart_storm, commit_unknown) before the "
     "next one loses it",
     plant_ack_before_write},
    {"stage_ok_without_forward", "linearizable, no_lost_writes",
     "a middleware stage answers every 5th Set it sees OK without sending it "
     "on, so it never reaches the backend (needs a stage calls pass "
     "through: a rate_limit, access, or audit with audit_required)",
     plant_stage_ok_without_forward},
    {"pool_forgets_queued_call", "answered_once",
     "a pool that ends (killed, then restarted) forgets the calls waiting in "
     "its queue: they are never answered",
     plant_pool_forgets_queued_call},
    {"subscription_drops_on_reconnect", "no_lost_publish",
     "a simulated Kafka or JetStream backend back from an outage delivers "
     "nothing more to the durable subscriptions it had",
     nullptr},
  };
  return table;
}

const defect_info* defect_named(std::string_view name) {
  for (auto& d : defects())
    if (d.name == name)
      return &d;
  return nullptr;
}

std::string check_defect_names(const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    auto& name = names[i];
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i),
                  name)
        != names.begin() + static_cast<std::ptrdiff_t>(i))
      return "defect \"" + name + "\" is planted twice; plant it once";
    if (defect_named(name))
      continue;
    std::string known;
    for (auto& d : defects())
      known += (known.empty() ? "" : ", ") + std::string(d.name);
    return "unknown planted defect \"" + name + "\"; known defects: " + known;
  }
  return {};
}

} // namespace prism::simulation
