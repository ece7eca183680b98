// The one escaping of text a peer or an operator controls (paths, addresses,
// channel names, reasons) on its way into a log line, a status field or a
// metrics label. Whatever the bytes, the result is valid UTF-8 on one line:
//   - valid UTF-8 is kept as it is ("/fx/€" stays readable);
//   - each byte that is not part of valid UTF-8 (a stray continuation, an
//     overlong or cut-short sequence, a surrogate, past U+10FFFF) becomes
//     U+FFFD, the replacement character: what was there is not
//     recoverable from the line, but nothing downstream rejects it;
//   - control characters (C0, DEL, C1) become \n \r \t or \u00XX.
// The Quoting then adds what the place around the text needs.
#pragma once

#include <string>
#include <string_view>

namespace wsgate::worker {

enum class Quoting {
  log,         // a log line or a terminal: nothing more (" and \ stay)
  json,        // inside a JSON string: " and \ get a backslash
  prometheus,  // a Prometheus label value, which knows only \\ \" \n: those
               // three escaped, a newline as \n, and the backslash of any
               // other control escape doubled, so the label reads \u00XX
};

void append_escaped(std::string& out, std::string_view s, Quoting quoting);
std::string escaped(std::string_view s, Quoting quoting);

// A JSON string with its quotes: "..." (Quoting::json).
std::string json_string(std::string_view s);

}  // namespace wsgate::worker
