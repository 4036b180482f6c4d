// The debug console's page (GET /debug/ui) in a real browser: Debian's
// Chromium, headless, loads it from a running gateway, runs its script for a
// few refreshes and dumps the DOM the script built. The actors of the
// supervision tree appear with their ids; after a kill through the admin
// listener, the connection's replacement appears with its restart count and
// the reason its predecessor ended. The page is served with a policy that
// lets it reach its own origin only, names no other, and the browser's net
// log shows that every request the page made went to its own origin. With
// auth on, the page driven through the DevTools protocol: its kill button
// asks for confirmation, then for the admin token once (and keeps it for the
// next kill), and reports the connection's restart.
//
// Nothing here sleeps to get past a race: the kill's replacement is awaited
// on the admin listener with a deadline, and the browser runs the page on
// virtual time (--virtual-time-budget), which pauses while a fetch is out.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin_view.hpp"
#include "gateway_process.hpp"

extern char** environ;

using namespace prism::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Where Debian's chromium package puts the browser; PRISM_CHROMIUM names
/// another.
const char* const default_chromium = "/usr/bin/chromium";

/// How long one browser run may take (a cold start included).
constexpr auto browser_timeout = 60s;
/// Virtual time the page runs before its DOM is dumped: the first read and
/// a few one-second refreshes after it.
constexpr int page_virtual_ms = 3500;
/// How long the kill's replacement may take to appear.
constexpr auto condition_timeout = 10s;

std::string chromium_path() {
  const char* given = std::getenv("PRISM_CHROMIUM");
  return given && *given ? given : default_chromium;
}

/// Fails the test unless the browser is installed.
void require_chromium() {
  auto path = chromium_path();
  INFO("This test drives a real browser: " << path
                                           << " is missing. Install Debian's "
                                              "chromium package (apt-get "
                                              "install chromium; scripts/dev "
                                              "installs it), or point "
                                              "PRISM_CHROMIUM at a Chromium.");
  REQUIRE(::access(path.c_str(), X_OK) == 0);
}

struct browser_result {
  int status = -1;
  bool timed_out = false;
  std::string out;
  std::string err;
};

/// Starts the browser with `args` in a process group of its own, stdout and
/// stderr to files in `dir`, and each (fd, target) of `passed` as its
/// descriptor `target`.
pid_t spawn_chromium(const std::string& dir,
                     const std::vector<std::string>& args,
                     const std::vector<std::pair<int, int>>& passed = {}) {
  std::vector<std::string> storage{chromium_path()};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto out_path = dir + "/browser.out";
  auto err_path = dir + "/browser.err";
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&files, 2, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (auto [fd, target] : passed)
    posix_spawn_file_actions_adddup2(&files, fd, target);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = -1;
  int failed
    = ::posix_spawn(&pid, argv[0], &files, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attributes);
  INFO("starting " << argv[0]);
  REQUIRE(failed == 0);
  return pid;
}

/// Runs the browser with `args` to its end (spawn_chromium); kills its
/// group when it outlives the timeout (and whatever of it outlives it).
browser_result run_chromium(const std::string& dir,
                            const std::vector<std::string>& args) {
  pid_t pid = spawn_chromium(dir, args);
  browser_result result;
  int status = 0;
  bool ended = eventually(
    [&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, browser_timeout);
  if (!ended) {
    result.timed_out = true;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ::kill(-pid, SIGKILL); // helpers of the browser that outlived it
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(dir + "/browser.out");
  result.err = read_file(dir + "/browser.err");
  return result;
}

/// The flags that make headless Chromium load a page in a fresh profile and
/// let it run for page_virtual_ms of virtual time before it acts. The
/// browser's own calls home are turned off where a flag does it, and no
/// host name resolves, so the test needs no network but the loopback.
std::vector<std::string> browser_flags(const std::string& profile) {
  return {"--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--no-first-run",
          "--no-default-browser-check",
          "--disable-extensions",
          "--disable-default-apps",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-client-side-phishing-detection",
          "--disable-sync",
          "--no-pings",
          "--disable-features=AutofillServerCommunication,OptimizationHints,"
          "MediaRouter,Translate,NetworkTimeServiceQuerying",
          "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
          "--user-data-dir=" + profile,
          "--virtual-time-budget=" + std::to_string(page_virtual_ms)};
}

/// The DOM of the page at `url` as the browser's script left it; with
/// `net_log`, the browser's log of its network events goes to that file.
std::string dump_dom(const std::string& url, const std::string& net_log = "") {
  temp_dir dir;
  auto args = browser_flags(dir.path() + "/profile");
  if (!net_log.empty())
    args.push_back("--log-net-log=" + net_log);
  args.push_back("--dump-dom");
  args.push_back(url);
  auto run = run_chromium(dir.path(), args);
  INFO("chromium exit " << run.status << (run.timed_out ? " (timed out)" : "")
                        << "\nstderr tail:\n"
                        << run.err.substr(run.err.size() > 3000
                                            ? run.err.size() - 3000
                                            : 0));
  REQUIRE(!run.timed_out);
  REQUIRE(run.status == 0);
  REQUIRE(run.out.find("</html>") != std::string::npos);
  return run.out;
}

std::string ui_url(const gateway_process& gw) {
  return "http://127.0.0.1:" + std::to_string(gw.admin_port()) + "/debug/ui";
}

/// The URLs of the requests that a page of `origin` started, from the
/// browser's net log (the browser's own requests have no page as initiator).
std::vector<std::string> requests_of_page(const std::string& net_log,
                                          const std::string& origin) {
  auto log = json::parse(read_file(net_log), nullptr, false);
  INFO("net log " << net_log);
  REQUIRE(log.is_object());
  REQUIRE(log["constants"]["logEventTypes"].contains("URL_REQUEST_START_JOB"));
  auto start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
  std::vector<std::string> urls;
  for (const auto& event : log["events"]) {
    if (event.value("type", -1) != start_job)
      continue;
    const auto& params = event.value("params", json::object());
    if (params.value("initiator", "") == origin)
      urls.push_back(params.value("url", ""));
  }
  return urls;
}

// --- a browser driven through the DevTools protocol ---------------------

/// The browser's process group, killed (and its leader reaped) on scope exit.
struct browser_group {
  pid_t pid = -1;
  ~browser_group() {
    if (pid > 0) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

struct owned_fd {
  int fd = -1;
  ~owned_fd() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// How long the browser may take to answer one DevTools call.
constexpr auto devtools_call_timeout = 20s;

/// Headless Chromium with one page, driven through the DevTools protocol on
/// a pipe (--remote-debugging-pipe: the browser reads descriptor 3 and
/// writes 4, JSON messages each ended by a NUL byte). The page runs on the
/// wall clock.
class driven_browser {
public:
  driven_browser() {
    int to_browser[2];
    int from_browser[2];
    REQUIRE(::pipe2(to_browser, O_CLOEXEC) == 0);
    owned_fd browser_reads{to_browser[0]};
    to_browser_.fd = to_browser[1];
    REQUIRE(::pipe2(from_browser, O_CLOEXEC) == 0);
    owned_fd browser_writes{from_browser[1]};
    from_browser_.fd = from_browser[0];
    auto args = browser_flags(dir_.path() + "/profile");
    args.pop_back(); // no virtual time budget
    args.push_back("--remote-debugging-pipe");
    args.push_back("about:blank");
    group_.pid = spawn_chromium(dir_.path(), args,
                                {{to_browser[0], 3}, {from_browser[1], 4}});
    auto target = call("Target.createTarget", {{"url", "about:blank"}});
    auto attached = call("Target.attachToTarget",
                         {{"targetId", target["targetId"]}, {"flatten", true}});
    session_ = attached["sessionId"].get<std::string>();
  }

  /// Loads `url` in the page (returns once the navigation has started).
  void open(const std::string& url) {
    call("Page.navigate", {{"url", url}}, true);
  }

  /// The value of the JavaScript expression in the page (awaited if it is a
  /// promise).
  json evaluate(const std::string& expression) {
    auto result = call("Runtime.evaluate",
                       {{"expression", expression},
                        {"awaitPromise", true},
                        {"returnByValue", true}},
                       true);
    INFO("evaluating " << expression << " -> " << result.dump());
    REQUIRE(!result.contains("exceptionDetails"));
    return result["result"].value("value", json());
  }

private:
  /// Sends one call and reads until its answer (events in between are not
  /// needed here and are dropped); fails the test on an error or timeout.
  json call(const std::string& method, json params, bool in_page = false) {
    json message{{"id", ++last_id_}, {"method", method}, {"params", params}};
    if (in_page)
      message["sessionId"] = session_;
    auto text = message.dump();
    text.push_back('\0');
    for (size_t sent = 0; sent < text.size();) {
      auto n = ::write(to_browser_.fd, text.data() + sent, text.size() - sent);
      INFO("writing " << method << " to the browser");
      REQUIRE(n > 0);
      sent += static_cast<size_t>(n);
    }
    auto deadline = std::chrono::steady_clock::now() + devtools_call_timeout;
    for (;;) {
      auto end = buffer_.find('\0');
      if (end == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
        pollfd ready{from_browser_.fd, POLLIN, 0};
        INFO("waiting for the answer to "
             << method << "\nbrowser stderr:\n"
             << file_tail(dir_.path() + "/browser.err", 3000));
        REQUIRE(left.count() > 0);
        REQUIRE(::poll(&ready, 1, static_cast<int>(left.count())) == 1);
        char chunk[65536];
        auto n = ::read(from_browser_.fd, chunk, sizeof chunk);
        REQUIRE(n > 0);
        buffer_.append(chunk, static_cast<size_t>(n));
        continue;
      }
      auto reply = json::parse(buffer_.substr(0, end), nullptr, false);
      buffer_.erase(0, end + 1);
      if (!reply.is_object() || reply.value("id", 0) != last_id_)
        continue;
      INFO(method << " -> " << reply.dump());
      REQUIRE(!reply.contains("error"));
      return reply["result"];
    }
  }

  temp_dir dir_;
  owned_fd to_browser_;
  owned_fd from_browser_;
  browser_group group_;
  int last_id_ = 0;
  std::string session_;
  std::string buffer_;
};

// --- reading the dumped DOM -----------------------------------------------

/// The value of attribute `name` in the start tag `tag`, or "" without it.
std::string attribute(const std::string& tag, const std::string& name) {
  auto key = " " + name + "=\"";
  auto at = tag.find(key);
  if (at == std::string::npos)
    return "";
  at += key.size();
  return tag.substr(at, tag.find('"', at) - at);
}

/// The supervision tree's row of actor `id`, from its start tag to the list
/// of its children (so with its last failure line), or "" when the page
/// shows none.
std::string tree_row(const std::string& dom, uint64_t id) {
  const auto key = "data-id=\"" + std::to_string(id) + "\"";
  for (auto at = dom.find(key); at != std::string::npos;
       at = dom.find(key, at + 1)) {
    auto start = dom.rfind('<', at);
    if (dom.compare(start, 16, "<div class=\"row\"") != 0
        && dom.compare(start, 16, "<div class=\"row ") != 0)
      continue;
    return dom.substr(start, dom.find("<ul", at) - start);
  }
  return "";
}

/// How often `part` occurs in `text`.
size_t count_of(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos;
       at = text.find(part, at + part.size()))
    ++count;
  return count;
}

/// Whether the top table has a row for actor `id`.
bool top_row_shown(const std::string& dom, uint64_t id) {
  const auto key = "data-id=\"" + std::to_string(id) + "\"";
  for (auto at = dom.find(key); at != std::string::npos;
       at = dom.find(key, at + 1))
    if (dom.compare(dom.rfind('<', at), 3, "<tr") == 0)
      return true;
  return false;
}

/// The start tag of the panel section `id`.
std::string panel_tag(const std::string& dom, const std::string& id) {
  auto at = dom.find("<section id=\"" + id + "\"");
  if (at == std::string::npos)
    return "";
  return dom.substr(at, dom.find('>', at) - at + 1);
}

/// Checks that the tree shows the actor `a` (from GET /debug/actors) with
/// its id, kind, name and restart count; returns its row.
std::string check_shown(const std::string& dom, const json& a) {
  REQUIRE(a.is_object());
  auto id = a["id"].get<uint64_t>();
  auto row = tree_row(dom, id);
  INFO("actor " << a.dump());
  REQUIRE(!row.empty());
  CHECK(attribute(row, "data-kind") == a["kind"].get<std::string>());
  CHECK(attribute(row, "data-name") == a["name"].get<std::string>());
  CHECK(attribute(row, "data-restarts")
        == std::to_string(a["restarts"].get<uint64_t>()));
  CHECK(row.find("#" + std::to_string(id) + "<") != std::string::npos);
  return row;
}

bool lists_id(const json& actors, uint64_t id) {
  for (const auto& a : actors)
    if (a["id"].get<uint64_t>() == id)
      return true;
  return false;
}

/// Calls on both backends, so sessions, pools and connections have work.
void make_calls(gateway_process& gw) {
  kv_client kv{gw.channel()};
  for (int i = 0; i < 20; ++i) {
    auto key = "k" + std::to_string(i);
    REQUIRE(kv.set("cache", key, "v").ok());
    REQUIRE(kv.set("default", key, "v").ok());
    REQUIRE(kv.get("default", key).ok());
  }
}

} // namespace

TEST_CASE("GET /debug/ui is one page that loads nothing from elsewhere",
          "[e2e][ui]") {
  gateway_process gw;
  gw.start();
  auto page = http_get(gw.admin_port(), "/debug/ui");
  REQUIRE(page.status == 200);
  CHECK_THAT(page.headers,
             Catch::Contains("content-type: text/html; charset=utf-8"));
  // The browser may run the page's own inline script and style, connect to
  // the page's origin, and nothing else.
  CHECK_THAT(page.headers,
             Catch::Contains("content-security-policy: "
                             "default-src 'none'; script-src "
                             "'sha256-"));
  CHECK_THAT(page.headers, Catch::Contains("connect-src 'self';"));
  // No address of another origin, no external script, style, font or
  // image: the one link is the empty icon, inline.
  for (const std::string other :
       {"://", "src=", "url(", "@import", "@font-face", "innerHTML"})
    CHECK_THAT(page.body, !Catch::Contains(other));
  CHECK(count_of(page.body, "href=") == 1);
  CHECK_THAT(page.body, Catch::Contains("<link rel=\"icon\" href=\"data:,\">"));
  CHECK_THAT(page.body, Catch::Contains("fetch(path,"));
  CHECK_THAT(page.body, Catch::Contains("'/debug/tree'"));
}

TEST_CASE("The debug page in Chromium shows the actors, and a killed "
          "connection's replacement with its restart and the reason",
          "[e2e][ui]") {
  require_chromium();
  gateway_process gw;
  gw.start();
  make_calls(gw);
  json actors;
  REQUIRE(eventually(
    [&] {
      actors = actor_list(gw);
      return !find_actor(actors, "connection", "local#0").is_null()
        && !find_actor(actors, "pool", "local").is_null();
    },
    condition_timeout));

  temp_dir logs;
  auto net_log = logs.path() + "/net-log.json";
  auto dom = dump_dom(ui_url(gw), net_log);
  INFO("DOM:\n" << dom);
  // What the page fetched, it fetched from its own origin: the admin
  // listener's JSON, and nothing else.
  {
    auto origin = "http://127.0.0.1:" + std::to_string(gw.admin_port());
    auto fetched = requests_of_page(net_log, origin);
    CHECK(std::find(fetched.begin(), fetched.end(), origin + "/debug/tree")
          != fetched.end());
    for (const auto& url : fetched) {
      INFO("the page fetched " << url);
      CHECK(url.rfind(origin + "/debug/", 0) == 0);
    }
  }
  check_shown(dom, find_actor(actors, "supervisor", "gateway"));
  check_shown(dom, find_actor(actors, "pool", "local"));
  check_shown(dom, find_actor(actors, "pool", "mem"));
  auto victim = find_actor(actors, "connection", "local#0");
  check_shown(dom, victim);
  // Every panel rendered what its endpoint answered: data, or a quiet "not
  // available" where this gateway lacks the endpoint.
  for (const std::string panel : {"tree", "top", "slowlog"})
    CHECK(attribute(panel_tag(dom, panel), "data-status") == "ok");
  for (const std::string panel : {"pools", "namespaces", "warnings"}) {
    auto status = attribute(panel_tag(dom, panel), "data-status");
    INFO("panel " << panel);
    CHECK((status == "ok" || status == "unavailable"));
  }
  // Top lists the connection too, and the header says when the data is of.
  CHECK(top_row_shown(dom, victim["id"].get<uint64_t>()));
  CHECK_THAT(dom, Catch::Contains("data of "));
  // The banner that says the gateway stopped answering stays hidden.
  CHECK_THAT(dom,
             Catch::Contains("<div id=\"banner\" role=\"alert\" hidden=\"\">"));

  // Kill the connection from here, as the page's button would.
  auto victim_id = victim["id"].get<uint64_t>();
  auto kill_path = "/debug/actors/" + std::to_string(victim_id) + "/kill";
  auto killed = http_post(gw.admin_port(), kill_path);
  INFO("POST " << kill_path << " -> " << killed.status << " " << killed.body);
  REQUIRE(killed.status == 202);
  json replacement;
  bool back = eventually(
    [&] {
      auto now = actor_list(gw);
      replacement = find_actor(now, "connection", "local#0");
      return !replacement.is_null()
        && replacement["id"].get<uint64_t>() != victim_id
        && replacement["state"] == "running" && !lists_id(now, victim_id);
    },
    condition_timeout);
  INFO("replacement: " << replacement.dump() << "\ngateway log:\n"
                       << gw.log_tail());
  REQUIRE(back);

  auto after = dump_dom(ui_url(gw));
  INFO("DOM after the kill:\n" << after);
  auto row = check_shown(after, replacement);
  CHECK(attribute(row, "data-restarts")
        == std::to_string(victim["restarts"].get<uint64_t>() + 1));
  CHECK_THAT(row, Catch::Contains("last failure: killed by POST " + kill_path));
  CHECK(tree_row(after, victim_id).empty());
  // The pool's row says a connection of it was restarted.
  check_shown(after, find_actor(actor_list(gw), "pool", "local"));
}

namespace {

/// Token auth with one admin, `root`, whose token is "admin-token" (the
/// config lists its SHA-256).
const char* const auth_config = R"(
auth:
  mode: token
  tokens:
    root: 10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a
  admins: [root]
backends:
  mem: {type: memory}
  local: {type: sqlite, path: "{dir}/prism.db", connections: 2}
namespaces:
  cache: {backend: mem, access: {admin: [root]}}
  default: {backend: local, access: {admin: [root]}}
)";

/// The id of the tree's row of connection `name` in the driven page, or 0.
uint64_t connection_row(driven_browser& browser, const std::string& name) {
  return browser
    .evaluate("(() => { const row = document.querySelector('#tree "
              ".row[data-kind=\"connection\"][data-name=\""
              + name + "\"]'); return row ? Number(row.dataset.id) : 0; })()")
    .get<uint64_t>();
}

/// The texts of the page's notes that report a finished kill, newest first.
std::vector<std::string> kill_reports(driven_browser& browser) {
  return browser
    .evaluate("[...document.querySelectorAll('#notes p.done')].map((p) => "
              "p.firstChild.textContent)")
    .get<std::vector<std::string>>();
}

/// Clicks the kill button of actor `id` in the tree.
void click_kill(driven_browser& browser, uint64_t id) {
  CHECK(browser
          .evaluate("(() => { const b = document.querySelector('#tree "
                    ".row[data-id=\""
                    + std::to_string(id)
                    + "\"] button.kill'); if (!b) return false; b.click(); "
                      "return true; })()")
          .get<bool>());
}

} // namespace

TEST_CASE("With auth on, the page's kill button confirms, asks for the "
          "admin token once, and shows the restarted connection",
          "[e2e][ui]") {
  require_chromium();
  gateway_process gw{auth_config};
  gw.start();
  driven_browser browser;
  browser.open(ui_url(gw));
  uint64_t first = 0;
  REQUIRE(eventually(
    [&] { return (first = connection_row(browser, "local#0")) != 0; },
    condition_timeout));
  // The dialogs answer as a person would: yes, and the token.
  browser.evaluate(
    "window.asked = []; window.confirm = (m) => { asked.push('confirm'); "
    "return true; }; window.prompt = (m) => { asked.push('prompt'); return "
    "'admin-token'; }; true");

  // The kill without a token is refused (403); the page asks for the token
  // and kills with it.
  click_kill(browser, first);
  std::vector<std::string> reports;
  bool reported
    = eventually([&] { return !(reports = kill_reports(browser)).empty(); },
                 condition_timeout);
  INFO(
    "notes: "
    << browser.evaluate("document.getElementById('notes').textContent").dump()
    << "\ngateway log:\n"
    << gw.log_tail());
  REQUIRE(reported);
  auto back = find_actor(actor_list(gw), "connection", "local#0");
  REQUIRE(back.is_object());
  auto back_id = back["id"].get<uint64_t>();
  CHECK(back_id != first);
  CHECK(back["restarts"].get<uint64_t>() == 1);
  CHECK(back["last_failure"]["reason"]
        == "killed by POST /debug/actors/" + std::to_string(first) + "/kill");
  CHECK_THAT(reports[0],
             Catch::Contains("#" + std::to_string(first)
                             + " was killed and restarted as #"
                             + std::to_string(back_id)));
  CHECK(browser.evaluate("asked").get<std::vector<std::string>>()
        == std::vector<std::string>{"confirm", "prompt"});
  CHECK(browser.evaluate("sessionStorage.getItem('prism.admin_token')")
        == "admin-token");
  // The new incarnation is highlighted.
  CHECK(browser
          .evaluate("document.querySelector('#tree .row[data-id=\""
                    + std::to_string(back_id)
                    + "\"]').classList.contains('fresh')")
          .get<bool>());

  // The second kill uses the kept token: confirmed, not asked again.
  uint64_t second = connection_row(browser, "local#1");
  REQUIRE(second != 0);
  click_kill(browser, second);
  REQUIRE(eventually([&] { return kill_reports(browser).size() == 2; },
                     condition_timeout));
  CHECK(browser.evaluate("asked").get<std::vector<std::string>>()
        == std::vector<std::string>{"confirm", "prompt", "confirm"});
  auto second_back = find_actor(actor_list(gw), "connection", "local#1");
  REQUIRE(second_back.is_object());
  CHECK(second_back["id"].get<uint64_t>() != second);
  CHECK(second_back["restarts"].get<uint64_t>() == 1);
}
