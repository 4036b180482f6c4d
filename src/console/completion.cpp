// Tab completion: what the word under the cursor may become, from the
// command table and, for actors, pools and namespaces, from the source as
// it is now.

#include <algorithm>
#include <set>

#include "console/command_support.hpp"
#include "console/commands.hpp"

namespace prism::console {

namespace {

using nlohmann::json;

/// Arguments that are not flags or flag values.
size_t positional_count(const std::vector<std::string>& words) {
  size_t n = 0;
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i].size() > 1 && words[i][0] == '-') {
      if (words[i].find('=') == std::string::npos)
        ++i;
      continue;
    }
    ++n;
  }
  return n;
}

void add_actors(source& src, bool with_kinds, std::set<std::string>& out) {
  auto answer = src.get("/debug/actors");
  if (!answer.ok() || !answer.body["actors"].is_array())
    return;
  for (const auto& actor : answer.body["actors"]) {
    out.insert(label_of(actor));
    out.insert(std::to_string(whole(actor, "id")));
    if (with_kinds)
      out.insert(text_of(actor, "kind"));
  }
}

void add_names(source& src, const std::string& path, const char* list,
               const char* key, std::set<std::string>& out) {
  auto answer = src.get(path);
  if (!answer.ok() || !answer.body[list].is_array())
    return;
  for (const auto& item : answer.body[list])
    out.insert(text_of(item, key));
}

void add_commands(const source& src, std::set<std::string>& out) {
  for (const auto& cmd : commands())
    if (!cmd.recorded_only || src.recorded())
      out.insert(cmd.name);
}

} // namespace

std::vector<std::string> complete(source& src, const std::string& line,
                                  const std::string& word) {
  std::vector<std::string> words;
  std::string error;
  split_words(line, words, error);
  // `watch CMD ...` completes as CMD would.
  while (!words.empty() && words[0] == "watch") {
    std::vector<std::string> rest;
    for (size_t i = 1; i < words.size(); ++i) {
      if (words[i] == "--interval") {
        ++i;
        continue;
      }
      rest.push_back(words[i]);
    }
    words = rest;
  }
  std::set<std::string> found;
  const command* cmd = words.empty() ? nullptr : find_command(words[0], src);
  if (words.empty()) {
    add_commands(src, found);
  } else if (cmd == nullptr) {
    return {};
  } else if (words.back() == "--sort") {
    found.insert(top_sort_keys().begin(), top_sort_keys().end());
  } else if (words.size() > 1 && words.back().size() > 1
             && words.back()[0] == '-'
             && words.back().find('=') == std::string::npos) {
    return {}; // a flag's value: a duration or a number
  } else if (!word.empty() && word[0] == '-') {
    for (const auto& w : cmd->words)
      if (w[0] == '-')
        found.insert(w);
  } else {
    size_t position = positional_count(words);
    switch (cmd->completes) {
      case completion::actor:
        if (position == 0)
          add_actors(src, cmd->name == "trace", found);
        break;
      case completion::pool:
        if (position == 0)
          add_names(src, "/debug/pools", "pools", "backend", found);
        break;
      case completion::ns:
        if (position == 0)
          add_names(src, "/debug/namespaces", "namespaces", "name", found);
        break;
      case completion::command:
        if (position == 0)
          add_commands(src, found);
        break;
      case completion::words:
        if (cmd->name == "log" && position == 1 && words[1] == "level")
          found.insert(log_levels().begin(), log_levels().end());
        else if (position == 0)
          for (const auto& w : cmd->words)
            if (w[0] != '-')
              found.insert(w);
        break;
      case completion::none: break;
    }
  }
  std::vector<std::string> out;
  for (const auto& candidate : found)
    if (!candidate.empty() && candidate.compare(0, word.size(), word) == 0)
      out.push_back(candidate);
  return out;
}

} // namespace prism::console
