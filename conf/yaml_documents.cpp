// yaml-cpp 0.7 (Debian 12) never returns from YAML::LoadAll for some texts as
// small as a lone ",": its parser reports an empty document without
// consuming the token, again and again, and LoadAll keeps every one of them
// until memory runs out (yaml-cpp issue 1040, fixed upstream by PR 1319).
// wsgate -t, and the master on a reload, would hang and eat the host's memory
// over one stray character. So the documents are counted first, with the
// parser's events and nothing kept, and LoadAll runs only on a text whose
// documents end.
#include "conf/yaml_documents.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <sstream>

namespace wsgate::conf::detail {

namespace {

// Parsing without building nodes: only the count of documents matters.
class IgnoreEvents final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::vector<YAML::Node> load_documents(const std::string& text, size_t max_documents) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  IgnoreEvents events;
  for (size_t documents = 0; parser.HandleNextDocument(events);) {
    if (++documents > max_documents) {
      throw YAML::ParserException(YAML::Mark::null_mark(),
                                  "more than " + std::to_string(max_documents) +
                                      " YAML documents: the YAML parser cannot find the end of this text");
    }
  }
  return YAML::LoadAll(text);  // the same parse, now known to end
}

}  // namespace wsgate::conf::detail
