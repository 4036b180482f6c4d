#include "config/yaml_documents.hpp"

#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

namespace prism::config::detail {

namespace {

/// Notes whether a document holds anything but a null root, and where.
class document_probe final : public YAML::EventHandler {
public:
  bool empty = true;
  YAML::Mark start;

  void OnDocumentStart(const YAML::Mark& mark) override {
    empty = true;
    start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    content(mark);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    content(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&,
                       YAML::anchor_t, YAML::EmitterStyle::value) override {
    content(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    content(mark);
  }
  void OnMapEnd() override {}

private:
  void content(const YAML::Mark& mark) {
    if (empty)
      start = mark;
    empty = false;
  }
};

} // namespace

std::optional<YAML::Mark> second_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  document_probe probe;
  // The first document was already read by YAML::Load; look at most at a few
  // more, stopping at the first empty one.
  for (int index = 0; index < 4 && parser.HandleNextDocument(probe); ++index) {
    if (probe.empty)
      return std::nullopt;
    if (index >= 1)
      return probe.start;
  }
  return std::nullopt;
}

} // namespace prism::config::detail
