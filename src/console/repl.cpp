// The interactive prompt (GNU readline: history, tab completion) and the
// one-command mode, with Ctrl-C stopping the command that runs, not the
// console.

#include <pwd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <readline/history.h>
#include <readline/readline.h>

#include "console/command_support.hpp"
#include "console/commands.hpp"
#include "console/console.hpp"
#include "console/format.hpp"

namespace prism::console {

namespace {

volatile sig_atomic_t interrupt_pending = 0;

/// How often the prompt looks for a Ctrl-C that came between two reads.
constexpr int prompt_poll_us = 50000;

extern "C" void on_interrupt(int) {
  interrupt_pending = 1;
}

/// Ctrl-C sets a flag that the running command polls; read() and sleeps
/// are interrupted (no SA_RESTART) so the prompt can clear its line.
void catch_interrupt() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
}

size_t terminal_width() {
  struct winsize size;
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0
      && size.ws_col > 0)
    return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS"))
    if (auto n = parse_whole(columns))
      return static_cast<size_t>(*n);
  return 0; // a pipe: no limit
}

std::string history_path() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    if (const auto* user = getpwuid(getuid()))
      home = user->pw_dir;
  }
  if (home == nullptr || *home == '\0')
    return "";
  return std::string(home) + "/" + history_file_name;
}

int run_one(source& src, const console_options& options,
            const std::string& line) {
  context ctx{src, std::cout, std::cerr};
  ctx.json = options.json;
  ctx.width = terminal_width();
  ctx.interrupted = [] {
    return interrupt_pending != 0;
  };
  auto result = run_line(ctx, line);
  std::cout << std::flush;
  return static_cast<int>(result);
}

// --- readline glue ------------------------------------------------------------

source* completing = nullptr;
std::vector<std::string> candidates;

char* next_candidate(const char*, int state) {
  static size_t next = 0;
  if (state == 0)
    next = 0;
  if (next >= candidates.size())
    return nullptr;
  return strdup(candidates[next++].c_str());
}

char** attempt_completion(const char* text, int start, int) {
  // Never fall back to file names.
  rl_attempted_completion_over = 1;
  std::string before(rl_line_buffer, static_cast<size_t>(start));
  candidates = complete(*completing, before, text);
  if (candidates.empty())
    return nullptr;
  return rl_completion_matches(text, next_candidate);
}

/// Ctrl-C at the prompt: drop the line, show a fresh prompt.
int on_signal_event() {
  if (interrupt_pending != 0) {
    interrupt_pending = 0;
    rl_replace_line("", 0);
    std::fputs("^C\n", rl_outstream != nullptr ? rl_outstream : stdout);
    rl_on_new_line();
    rl_redisplay();
  }
  return 0;
}

void print_banner(source& src) {
  std::cout << "prism console on " << src.describe();
  auto stats = src.get("/debug/stats");
  if (stats.ok() && stats.body.is_object()) {
    std::cout << " (prism " << text_of(stats.body, "version") << ", up "
              << human_ms(number(stats.body, "uptime_ms")) << ", "
              << whole(stats.body, "actors") << " actors)";
  } else if (!stats.error.empty()) {
    std::cout << "\n" << stats.error;
  }
  std::cout << "\n`help` lists the commands, TAB completes, Ctrl-C stops a "
               "command, Ctrl-D or `quit` leaves.\n";
}

int run_prompt(source& src, const console_options& options) {
  static char word_breaks[] = " \t\n";
  completing = &src;
  rl_readline_name = "prism";
  rl_attempted_completion_function = attempt_completion;
  rl_completer_word_break_characters = word_breaks;
  rl_catch_signals = 0;
  // A Ctrl-C that interrupts readline's wait for a key is seen at once; one
  // that comes while it draws is seen at its next look for keys, which
  // the event hook makes every prompt_poll_us.
  rl_signal_event_hook = on_signal_event;
  rl_event_hook = on_signal_event;
  rl_set_keyboard_input_timeout(prompt_poll_us);
  auto history = history_path();
  using_history();
  stifle_history(history_lines_max);
  if (!history.empty())
    read_history(history.c_str());
  print_banner(src);
  for (;;) {
    interrupt_pending = 0;
    auto prompt = "prism " + src.describe() + "> ";
    char* raw = readline(prompt.c_str());
    if (raw == nullptr) {
      std::cout << "\n";
      break;
    }
    std::string line = raw;
    std::free(raw);
    std::vector<std::string> words;
    std::string error;
    split_words(line, words, error);
    if (words.empty())
      continue;
    const HIST_ENTRY* previous = history_length > 0
      ? history_get(history_base + history_length - 1)
      : nullptr;
    if (previous == nullptr || line != previous->line) {
      add_history(line.c_str());
      if (!history.empty())
        write_history(history.c_str());
    }
    if (words[0] == "quit" || words[0] == "exit")
      break;
    run_one(src, options, line);
  }
  if (!history.empty())
    write_history(history.c_str());
  return 0;
}

} // namespace

int run_console(source& src, const console_options& options) {
  catch_interrupt();
  if (!options.command.empty())
    return run_one(src, options, options.command);
  if (!isatty(STDIN_FILENO)) {
    // Commands piped in, one a line: no prompt, the worst outcome wins.
    int worst = 0;
    std::string line;
    while (std::getline(std::cin, line)) {
      std::vector<std::string> words;
      std::string error;
      split_words(line, words, error);
      if (!words.empty() && (words[0] == "quit" || words[0] == "exit"))
        break;
      worst = std::max(worst, run_one(src, options, line));
    }
    return worst;
  }
  return run_prompt(src, options);
}

} // namespace prism::console
