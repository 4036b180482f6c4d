#include "runtime/supervisor.hpp"

#include <exception>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <spdlog/spdlog.h>

namespace prism {

// The supervisor's timers, sent to itself: a child's restart delay passed;
// a child that was asked to stop has had its shutdown timeout.
using sv_restart_atom = caf::atom_constant<caf::atom("sv_restart")>;
using sv_kill_atom = caf::atom_constant<caf::atom("sv_kill")>;

const char* supervisor_state::name = "prism.supervisor";

namespace {

using self_ptr = supervisor_actor_ptr;

std::string render(self_ptr self, const caf::error& reason) {
  if (!reason)
    return "normal";
  auto text = supervision_error_text(reason);
  if (!text.empty())
    return text;
  return self->home_system().render(reason);
}

const std::string& name_of(self_ptr self) {
  return self->state.logic->name();
}

bool all_down(self_ptr self) {
  for (auto& c : self->state.children)
    if (c.st != supervisor_state::status::down)
      return false;
  return true;
}

void finish_if_done(self_ptr self) {
  auto& st = self->state;
  if (st.shutting_down && !st.quit_called && all_down(self)) {
    st.quit_called = true;
    self->quit(st.final_reason);
  }
}

void stop_child(self_ptr self, size_t i) {
  auto& c = self->state.children[i];
  if (c.st != supervisor_state::status::running)
    return;
  c.st = supervisor_state::status::stopping;
  self->state.logic->stopped(i);
  self->send_exit(c.handle, caf::exit_reason::user_shutdown);
  self->delayed_send(self, self->state.logic->options().shutdown_timeout,
                     sv_kill_atom::value, static_cast<uint64_t>(i),
                     c.incarnation);
}

void handle_exit(self_ptr self, size_t i, const caf::error& reason);

void start_child(self_ptr self, size_t i) {
  auto& st = self->state;
  auto& c = st.children[i];
  caf::actor handle;
  caf::error failure;
  try {
    handle = c.spec.start(self);
    if (!handle)
      failure
        = make_supervision_error(supervision_errc::start_failed,
                                 "the start function of child \"" + c.spec.name
                                   + "\" returned no actor");
  } catch (const std::exception& e) {
    failure = make_supervision_error(supervision_errc::start_failed,
                                     "starting child \"" + c.spec.name
                                       + "\" threw: " + e.what());
  }
  if (failure) {
    spdlog::error("supervisor \"{}\": {}", name_of(self),
                  supervision_error_text(failure));
    handle_exit(self, i, failure);
    return;
  }
  self->monitor(handle);
  c.handle = handle;
  c.st = supervisor_state::status::running;
  ++c.incarnation;
  st.logic->started(i, self->clock().now());
  if (st.observer)
    self->send(st.observer, child_started_atom::value, c.spec.name, handle);
}

/// Starts, in order, the children whose restart delay has passed; stops at one
/// that is still stopping, so that the order of starts is kept.
void start_due(self_ptr self) {
  auto& st = self->state;
  if (st.shutting_down)
    return;
  for (size_t i = 0; i < st.children.size(); ++i) {
    auto& c = st.children[i];
    if (c.pending_restart == 0 || !c.restart_due)
      continue;
    if (c.st == supervisor_state::status::stopping)
      return;
    c.pending_restart = 0;
    c.restart_due = false;
    if (c.st == supervisor_state::status::down)
      start_child(self, i);
  }
}

void begin_shutdown(self_ptr self, caf::error reason) {
  auto& st = self->state;
  if (!st.shutting_down) {
    st.shutting_down = true;
    st.final_reason = std::move(reason);
  }
  for (auto& c : st.children) {
    c.pending_restart = 0;
    c.restart_due = false;
  }
  for (size_t i = st.children.size(); i-- > 0;)
    stop_child(self, i);
  finish_if_done(self);
}

/// Child `i` ended on its own (or never started) with `reason`.
void handle_exit(self_ptr self, size_t i, const caf::error& reason) {
  auto& st = self->state;
  auto& c = st.children[i];
  c.st = supervisor_state::status::down;
  auto now = self->clock().now();
  auto text = render(self, reason);
  // The child's restart (a new actor of the same kind and name) shows why
  // this one ended as its last failure.
  if (st.actors && c.handle && !is_normal_exit(reason) && !st.shutting_down)
    st.actors->note_failed_exit(c.handle.id(), text, now);
  c.handle = nullptr;
  auto d = st.logic->exited(i, reason, now, st.rng, text);
  if (st.shutting_down)
    return;
  if (st.observer && !is_normal_exit(reason))
    self->send(st.observer, child_failed_atom::value, c.spec.name, text);
  switch (d.what) {
    case decision::action::none:
      if (!is_normal_exit(reason))
        spdlog::warn("supervisor \"{}\": child \"{}\" ({}) stopped: {}; not "
                     "restarted",
                     name_of(self), c.spec.name, to_string(c.spec.restart),
                     text);
      return;
    case decision::action::give_up:
      spdlog::error("{}", d.explanation);
      begin_shutdown(self,
                     make_supervision_error(
                       supervision_errc::intensity_exceeded, d.explanation));
      return;
    case decision::action::restart: break;
  }
  spdlog::warn(
    "supervisor \"{}\": child \"{}\" stopped: {}; restarting {} "
    "child(ren) in {} ms ({})",
    name_of(self), c.spec.name, text, d.restart.size(),
    std::chrono::duration_cast<std::chrono::milliseconds>(d.delay).count(),
    to_string(st.logic->options().strategy));
  // A supervisor's record counts the restarts it carried out.
  if (st.registration) {
    st.registration->count_restart();
    st.registration->note_restart_at(now);
  }
  auto id = st.next_restart_id++;
  // Stop the siblings involved, last started first.
  for (auto it = d.affected.rbegin(); it != d.affected.rend(); ++it) {
    auto j = *it;
    if (j == i)
      continue;
    auto& sibling = st.children[j];
    // A sibling waiting for an earlier restart now waits for this one.
    sibling.pending_restart = 0;
    sibling.restart_due = false;
    stop_child(self, j);
  }
  for (auto j : d.restart) {
    st.children[j].pending_restart = id;
    st.children[j].restart_due = false;
  }
  self->delayed_send(self, d.delay, sv_restart_atom::value, id);
}

size_t index_of(self_ptr self, const caf::actor_addr& source) {
  auto& children = self->state.children;
  for (size_t i = 0; i < children.size(); ++i)
    if (children[i].handle && children[i].handle.address() == source)
      return i;
  return children.size();
}

supervisor_snapshot snapshot(self_ptr self) {
  auto& st = self->state;
  supervisor_snapshot s;
  s.name = st.logic->name();
  s.strategy_used = st.logic->options().strategy;
  s.recent_restarts = st.logic->recent_restarts(self->clock().now());
  for (size_t i = 0; i < st.children.size(); ++i) {
    auto& r = st.logic->children()[i];
    supervisor_snapshot::child c;
    c.name = r.name;
    c.restart = r.restart;
    c.running = st.children[i].st == supervisor_state::status::running;
    c.restarts = r.restarts;
    c.last_failure = r.last_failure;
    c.last_failure_at = r.last_failure_at;
    c.started_at = r.started_at;
    s.children.push_back(std::move(c));
  }
  return s;
}

} // namespace

caf::behavior supervisor(supervisor_actor_ptr self, supervisor_spec spec) {
  auto& st = self->state;
  std::vector<supervision_logic::child_info> infos;
  for (auto& c : spec.children)
    infos.push_back({c.name, c.restart});
  st.logic.emplace(spec.name, spec.options, std::move(infos));
  st.observer = std::move(spec.observer);
  st.rng.seed(spec.seed);
  st.actors = spec.actors;
  st.registration
    = enroll_if(spec.actors, self, "supervisor", spec.name, spec.parent);
  for (auto& c : spec.children) {
    supervisor_state::child child;
    child.spec = std::move(c);
    st.children.push_back(std::move(child));
  }
  // If the supervisor ends without stopping its children (it was killed),
  // they must not outlive it. The list is shared so it sees every restart.
  auto live = std::make_shared<std::vector<caf::actor>>(st.children.size());
  self->attach_functor([live](const caf::error&) {
    for (auto& h : *live)
      if (h)
        caf::anon_send_exit(h, caf::exit_reason::kill);
  });
  auto track = [self, live] {
    auto& cs = self->state.children;
    for (size_t i = 0; i < cs.size(); ++i)
      (*live)[i] = cs[i].st == supervisor_state::status::down ? caf::actor{}
                                                              : cs[i].handle;
  };
  self->set_down_handler([self, track](caf::down_msg& msg) {
    auto i = index_of(self, msg.source);
    if (i == self->state.children.size())
      return;
    auto& c = self->state.children[i];
    if (c.st == supervisor_state::status::stopping) {
      c.st = supervisor_state::status::down;
      c.handle = nullptr;
      start_due(self);
    } else {
      handle_exit(self, i, msg.reason);
    }
    track();
    finish_if_done(self);
  });
  self->set_exit_handler([self, track](caf::exit_msg& msg) {
    if (!msg.reason)
      return;
    spdlog::info("supervisor \"{}\": stopping its children: {}", name_of(self),
                 render(self, msg.reason));
    begin_shutdown(self, msg.reason);
    track();
  });
  for (size_t i = 0; i < st.children.size(); ++i)
    start_child(self, i);
  track();
  return {
    [self, track](sv_restart_atom, uint64_t id) {
      for (auto& c : self->state.children)
        if (c.pending_restart == id)
          c.restart_due = true;
      start_due(self);
      track();
    },
    [self](sv_kill_atom, uint64_t i, uint64_t incarnation) {
      auto& cs = self->state.children;
      if (i >= cs.size())
        return;
      auto& c = cs[i];
      if (c.st == supervisor_state::status::stopping
          && c.incarnation == incarnation) {
        spdlog::warn("supervisor \"{}\": child \"{}\" did not stop within the "
                     "shutdown timeout; killing it",
                     name_of(self), c.spec.name);
        self->send_exit(c.handle, caf::exit_reason::kill);
      }
    },
    [self](supervisor_stats_atom) { return snapshot(self); },
  };
}

child_spec supervisor_child(supervisor_spec spec, restart_type restart) {
  child_spec c;
  c.name = spec.name;
  c.restart = restart;
  c.start = [spec = std::move(spec)](caf::local_actor* parent) {
    auto nested = spec;
    nested.parent = parent->id();
    return parent->spawn(supervisor, std::move(nested));
  };
  return c;
}

} // namespace prism
