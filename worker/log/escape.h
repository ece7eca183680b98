// The one escaping of text a peer or an operator controls (paths, addresses,
// channel names, reasons) on its way into a log line, a status field or a
// metrics label.
#pragma once

#include <string>
#include <string_view>

namespace wsgate::worker {

// Any bytes as a JSON string: quotes, backslashes and control bytes are
// escaped, and bytes above 0x7e, which could be invalid UTF-8, become \u00XX.
std::string json_string(std::string_view s);
// The same escaping appended without the quotes (the access log's fields).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace wsgate::worker
