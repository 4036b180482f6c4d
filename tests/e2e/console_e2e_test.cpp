// `prism console` against a real `prism serve` with calls running: one
// command at a time with -c (tree, top, info, kill and the restart, slowlog,
// --json, errors), and the prompt itself through a pseudo-terminal (tab
// completion, history kept across runs, Ctrl-C ending a watch).

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"

using namespace prism::test;
using namespace std::chrono_literals;

namespace {

/// Clients writing to the SQLite and memory namespaces until destroyed, so
/// that the actors have work while the console looks at them.
class load {
public:
  explicit load(gateway_process& gw) {
    for (int c = 0; c < client_count; ++c)
      threads_.emplace_back([this, c, channel = gw.channel()] {
        kv_client kv{channel, 10s};
        for (uint64_t n = 0; !stop_.load(); ++n) {
          auto key = "c" + std::to_string(c) + "-" + std::to_string(n % 100);
          if (kv.set(c % 2 == 0 ? "default" : "cache", key, "value").ok())
            calls_.fetch_add(1);
        }
      });
  }
  ~load() {
    stop_.store(true);
    for (auto& t : threads_)
      t.join();
  }
  load(const load&) = delete;
  load& operator=(const load&) = delete;

  uint64_t calls() const { return calls_.load(); }

private:
  static constexpr int client_count = 4;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> calls_{0};
  std::vector<std::thread> threads_;
};

command_result console(gateway_process& gw, std::vector<std::string> args) {
  std::vector<std::string> all{"console", "--admin",
                               "127.0.0.1:" + std::to_string(gw.admin_port())};
  all.insert(all.end(), args.begin(), args.end());
  return run_prism(all, 30s);
}

/// The line of `text` that contains `part`, or "".
std::string line_with(const std::string& text, const std::string& part) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find(part) != std::string::npos)
      return line;
  return "";
}

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;)
    words.push_back(w);
  return words;
}

} // namespace

TEST_CASE("console -c: tree, top, info and --json on a gateway under load",
          "[console][e2e]") {
  gateway_process gw;
  gw.start();
  load calls(gw);
  REQUIRE(eventually([&] { return calls.calls() >= 50; }, 20s));

  auto tree = console(gw, {"-c", "tree"});
  INFO(tree.out << tree.err);
  CHECK(tree.status.exited);
  CHECK(tree.status.code == 0);
  // The root comes right under the header.
  CHECK(tree.out.find("\nsupervisor:gateway ") == tree.out.find('\n'));
  CHECK(line_with(tree.out, "├─ supervisor:backends") != "");
  CHECK(line_with(tree.out, "connection:local#0") != "");
  CHECK(line_with(tree.out, "router:router") != "");
  auto backends = console(gw, {"-c", "tree supervisor:backends --depth 1"});
  CHECK(backends.status.code == 0);
  CHECK(line_with(backends.out, "pool:local (+") != "");
  CHECK(line_with(backends.out, "connection:local#0") == "");

  auto top = console(gw, {"-c", "top --sort mailbox"});
  INFO(top.out << top.err);
  CHECK(top.status.code == 0);
  CHECK(top.out.rfind("top ", 0) == 0);
  CHECK(line_with(top.out, "by mailbox") != "");
  CHECK(line_with(top.out, "ID  ACTOR") != "");

  // Over a window, the pools the clients write through handle messages.
  auto rate = console(gw, {"-c", "top --sort rate --window 1s -n 50"});
  INFO(rate.out << rate.err);
  CHECK(rate.status.code == 0);
  auto pool_row = words_of(line_with(rate.out, " pool:local "));
  REQUIRE(pool_row.size() >= 7);
  CHECK(pool_row[1] == "pool:local");
  CHECK(std::stod(pool_row[6]) > 0); // MSG/S

  auto info = console(gw, {"-c", "info pool:local"});
  INFO(info.out << info.err);
  CHECK(info.status.code == 0);
  CHECK(line_with(info.out, "pool:local (") != "");
  CHECK(line_with(info.out, "parent").find("supervisor:backends")
        != std::string::npos);
  CHECK(line_with(info.out, "messages/s").find("over the last")
        != std::string::npos);
  CHECK(line_with(info.out, "last failure") != "");

  auto json_tree = console(gw, {"-c", "tree", "--json"});
  CHECK(json_tree.status.code == 0);
  auto parsed = nlohmann::json::parse(json_tree.out);
  CHECK(parsed["actors"].is_array());
  CHECK(parsed["count"].get<int>() > 5);
  auto json_top = console(gw, {"--json", "-c", "top"});
  CHECK(json_top.status.code == 0);
  CHECK(nlohmann::json::parse(json_top.out)["actors"].size()
        == parsed["count"].get<size_t>());
}

TEST_CASE("console -c kill shows the supervisor's restart", "[console][e2e]") {
  gateway_process gw;
  gw.start();
  load calls(gw);
  REQUIRE(eventually([&] { return calls.calls() >= 50; }, 20s));
  auto victim = find_actor(actor_list(gw), "connection", "local#1");
  REQUIRE(!victim.is_null());
  auto old_id = victim["id"].get<uint64_t>();

  auto kill = console(gw, {"-c", "kill connection:local#1"});
  INFO(kill.out << kill.err);
  CHECK(kill.status.code == 0);
  CHECK(line_with(kill.out,
                  "killed connection:local#1 (" + std::to_string(old_id) + ")")
        != "");
  std::smatch m;
  auto restarted = line_with(kill.out, "restarted as");
  REQUIRE(std::regex_search(
    restarted, m,
    std::regex(R"(restarted as connection:local#1 \((\d+)\) after )")));
  auto new_id = std::stoull(m[1].str());
  CHECK(new_id > old_id);
  CHECK(line_with(kill.out, "restarts: ") != "");
  // The gateway agrees: the new id is the connection now.
  auto now = find_actor(actor_list(gw), "connection", "local#1");
  REQUIRE(!now.is_null());
  CHECK(now["id"].get<uint64_t>() == new_id);
  CHECK(now["last_failure"].is_object());

  // A name no actor has is refused before anything is killed.
  auto unknown = console(gw, {"-c", "kill connection:local#9"});
  CHECK(unknown.status.code == 1);
  CHECK(unknown.err.find("no actor is called \"connection:local#9\"")
        != std::string::npos);
}

TEST_CASE("console -c slowlog shows slow calls with their hops",
          "[console][e2e]") {
  gateway_process gw;
  gw.start();
  auto threshold = console(gw, {"-c", "slowlog threshold 0"});
  CHECK(threshold.status.code == 0);
  CHECK(threshold.out.find("slow log threshold: 0 ms") == 0);
  load calls(gw);
  REQUIRE(eventually(
    [&] {
      auto answer = http_get(gw.admin_port(), "/debug/slowlog");
      return answer.status == 200
        && nlohmann::json::parse(answer.body)["count"].get<int>() >= 3;
    },
    20s));
  auto slow = console(gw, {"-c", "slowlog get 3"});
  INFO(slow.out << slow.err);
  CHECK(slow.status.code == 0);
  CHECK(slow.out.find("slow log: ") == 0);
  CHECK(line_with(slow.out, "; the newest 3") != "");
  CHECK(line_with(slow.out, "AGO  NAMESPACE") != "");
  CHECK(line_with(slow.out, "    session ") != "");
  CHECK(line_with(slow.out, "| router ") != "");
  auto json_slow = console(gw, {"--json", "-c", "slowlog"});
  CHECK(nlohmann::json::parse(json_slow.out)["threshold_ms"] == 0);
  auto reset = console(gw, {"-c", "slowlog reset"});
  CHECK(reset.status.code == 0);
  CHECK(reset.out.find("slow log cleared") == 0);
}

TEST_CASE("console --token: a kill needs an admin's token when auth is on",
          "[console][e2e]") {
  // root's token is "admin-token"; the config lists its SHA-256.
  gateway_process gw{R"(
auth:
  mode: token
  tokens:
    root: 10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a
  admins: [root]
backends:
  mem: {type: memory}
namespaces:
  cache: {backend: mem}
)"};
  gw.start();
  auto denied = console(gw, {"-c", "kill connection:mem#0"});
  CHECK(denied.status.code == 1);
  CHECK(denied.err.find("(POST /debug/actors/") != std::string::npos);
  CHECK(denied.err.find("answered 403); pass --token with an admin's token")
        != std::string::npos);
  auto wrong = console(gw, {"--token", "not-a-token", "-c", "slowlog reset"});
  CHECK(wrong.status.code == 1);
  auto allowed
    = console(gw, {"--token", "admin-token", "-c", "kill connection:mem#0"});
  INFO(allowed.out << allowed.err);
  CHECK(allowed.status.code == 0);
  CHECK(allowed.out.find("restarted as connection:mem#0 (")
        != std::string::npos);
  // Reads need no token.
  CHECK(console(gw, {"-c", "tree"}).status.code == 0);
}

TEST_CASE("console -c exit codes: no listener, bad command, bad flags",
          "[console][e2e]") {
  // A port nothing listens on: bind one, note it, close it.
  gateway_process gw;
  gw.start();
  auto port = gw.admin_port();
  gw.stop();
  auto refused = run_prism(
    {"console", "--admin", "127.0.0.1:" + std::to_string(port), "-c", "tree"});
  CHECK(refused.status.code == 1);
  CHECK(refused.err
        == "tree: no admin listener at 127.0.0.1:" + std::to_string(port)
          + ": connection refused (start `prism serve` or pass --admin "
            "HOST:PORT)\n");
  auto unknown = run_prism({"console", "-c", "tpo"});
  CHECK(unknown.status.code == 2);
  CHECK(unknown.err.find("did you mean `top`?") != std::string::npos);
  auto flag = run_prism({"console", "-c", "top --sort size"});
  CHECK(flag.status.code == 2);
  CHECK(flag.err.find("--sort takes") != std::string::npos);
  auto address = run_prism({"console", "--admin", "localhost", "-c", "tree"});
  CHECK(address.status.code == 2);
  CHECK(address.err.find("--admin takes HOST:PORT") != std::string::npos);
}

// --- the prompt, through a pseudo-terminal -----------------------------------------

namespace {

/// `prism console` on the slave side of a pseudo-terminal, HOME set to
/// `home`; what it writes is read from the master side.
class terminal_session {
public:
  terminal_session(uint16_t admin_port, const std::string& home) {
    struct winsize size {};
    size.ws_row = 40;
    size.ws_col = 120;
    pid_ = forkpty(&master_, nullptr, nullptr, &size);
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      setenv("HOME", home.c_str(), 1);
      setenv("TERM", "xterm", 1);
      unsetenv("INPUTRC");
      auto admin = "127.0.0.1:" + std::to_string(admin_port);
      execl(prism_binary().c_str(), "prism", "console", "--admin",
            admin.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~terminal_session() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0)
      close(master_);
  }
  terminal_session(const terminal_session&) = delete;
  terminal_session& operator=(const terminal_session&) = delete;

  void type(const std::string& keys) {
    REQUIRE(write(master_, keys.data(), keys.size())
            == static_cast<ssize_t>(keys.size()));
  }

  /// Reads until what came since `mark()` contains `text`, or the
  /// deadline passes; returns whether it came.
  bool wait_for(const std::string& text,
                std::chrono::milliseconds timeout = 15s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (seen_.find(text, mark_) != std::string::npos)
        return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      struct pollfd p {
        master_, POLLIN, 0
      };
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      char buf[4096];
      auto n = read(master_, buf, sizeof buf);
      if (n <= 0)
        return seen_.find(text, mark_) != std::string::npos;
      seen_.append(buf, static_cast<size_t>(n));
    }
  }
  /// wait_for() that, when the text does not come, says what did.
  bool expect(const std::string& text) {
    if (wait_for(text))
      return true;
    FAIL_CHECK("waited for \"" << text << "\"; the terminal showed:\n"
                               << seen_);
    return false;
  }
  /// Later waits look only at what comes after this.
  void mark() { mark_ = seen_.size(); }

  /// Waits for the process to end; its exit code, or -1.
  int wait_exit(std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      // Drain the terminal so the child never blocks writing to it.
      wait_for("\x01never\x01", 50ms);
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -1;
  }

  const std::string& seen() const { return seen_; }

private:
  int master_ = -1;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string seen_;
  size_t mark_ = 0;
};

} // namespace

TEST_CASE("the prompt completes, remembers across runs and survives Ctrl-C",
          "[console][e2e]") {
  gateway_process gw;
  gw.start();
  temp_dir home;
  auto prompt = "prism 127.0.0.1:" + std::to_string(gw.admin_port()) + "> ";
  {
    terminal_session term(gw.admin_port(), home.path());
    REQUIRE(term.expect(prompt));
    // A command name, then an actor label, completed by TAB.
    term.mark();
    term.type("inf\t");
    REQUIRE(term.expect("info "));
    term.mark();
    term.type("pool:lo\t");
    REQUIRE(term.expect("pool:local "));
    term.mark();
    term.type("\r");
    REQUIRE(term.expect("mailbox"));
    REQUIRE(term.expect(prompt));
    // Ctrl-C at the prompt drops the line typed so far.
    term.mark();
    term.type("tree --dep");
    REQUIRE(term.expect("tree --dep"));
    term.mark();
    term.type("\x03");
    REQUIRE(term.expect("^C"));
    REQUIRE(term.expect(prompt));
    term.mark();
    term.type("quit\r");
    CHECK(term.wait_exit() == 0);
  }
  auto history = read_file(home.path() + "/.prism_console_history");
  CHECK(history.find("info pool:local") != std::string::npos);
  {
    // A new run in the same home has the command under the up arrow.
    terminal_session term(gw.admin_port(), home.path());
    REQUIRE(term.expect(prompt));
    term.mark();
    term.type("\x1b[A");
    REQUIRE(term.expect("quit")); // the last line typed: quit
    term.type("\x1b[A");
    REQUIRE(term.expect("info pool:local"));
    term.mark();
    term.type("\r");
    REQUIRE(term.expect("pool:local ("));
    REQUIRE(term.expect(prompt));
    // watch redraws until Ctrl-C, which comes back to the prompt.
    term.mark();
    term.type("watch tree --interval 200ms\r");
    REQUIRE(term.expect("every 200 ms: tree"));
    term.mark();
    REQUIRE(term.expect("every 200 ms: tree"));
    term.mark();
    term.type("\x03");
    REQUIRE(term.expect(prompt));
    term.mark();
    term.type("\x04"); // Ctrl-D on an empty line leaves
    CHECK(term.wait_exit() == 0);
  }
}
