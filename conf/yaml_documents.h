// The documents of a config text, as YAML::LoadAll reads them, but certain
// to end.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <vector>

namespace wsgate::conf::detail {

// More documents than this in one text is an error: a config is one
// document, perhaps with empty ones around it.
inline constexpr size_t kMaxDocuments = 64;

// YAML::LoadAll, bounded: throws YAML::ParserException (without a line) for a
// text of more than `max_documents` documents.
std::vector<YAML::Node> load_documents(const std::string& text, size_t max_documents = kMaxDocuments);

}  // namespace wsgate::conf::detail
