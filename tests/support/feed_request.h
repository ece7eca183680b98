// The feed source's answer to a request head: a pure function, so the whole
// HTTP surface reads in one place.
//
//   WebSocket upgrade on any target      -> 101, join the channel "target
//                                           without the query"
//   upgrade with ?reject=NNN              -> HTTP NNN (200..599) instead
//   GET /_stats (no upgrade)              -> 200 JSON, built by the server
//   GET /_drop  (no upgrade)              -> drop every WebSocket, then 200
//   anything else without an upgrade      -> 404
// Every plain HTTP answer carries Connection: close.
#pragma once

#include <string>
#include <string_view>

#include "tests/support/http_head.h"

namespace wsgate::test {

struct FeedRequest {
  enum class Kind {
    kUpgrade,  // send `response` (the 101), then speak WebSocket on `channel`
    kStats,    // answer with http_response(200, json, server stats)
    kDrop,     // drop the WebSockets, then answer `response`
    kRespond,  // send `response`, then close
  };
  Kind kind = Kind::kRespond;
  std::string channel;
  std::string response;
  std::string problem;  // why a request was refused (for the log)
};

FeedRequest decide_feed_request(const HttpHead& request, std::string_view source_name);

// A complete HTTP/1.1 response with Content-Length and Connection: close.
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view source_name);

}  // namespace wsgate::test
