#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "config/config.hpp"

namespace prism::cli {

void add_check_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
    "check",
    "Validate a config file: print every problem with its file, "
    "line, field and a hint (exit 1), or a one-line summary (exit 0)");
  cmd->add_option("file", *path, "The YAML config file to check")->required();
  cmd->callback([path] {
    auto result = config::load_file(*path);
    if (!result.ok()) {
      for (auto& p : result.problems)
        std::cerr << config::format(p) << '\n';
      std::cerr << *path << ": " << result.problems.size()
                << (result.problems.size() == 1 ? " problem" : " problems")
                << '\n';
      throw CLI::RuntimeError(1);
    }
    std::cout << *path << ": " << config::summary(*result.config) << '\n';
  });
}

} // namespace prism::cli
