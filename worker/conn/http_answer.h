// A client refused during its handshake gets one complete HTTP answer, and
// its connection is then closed gently: the write side is shut behind the
// answer, and reading goes on (bytes dropped) until the client closes or the
// linger ends, so unread bytes do not turn the close into a reset that eats
// the answer (nginx's lingering close).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "worker/net/tcp_conn.h"
#include "worker/ws/http_error.h"

namespace wsgate::worker {

// How long a refused client may keep sending before its socket is closed.
inline constexpr conf::Duration kAnswerLinger = std::chrono::seconds(2);

// Logs the refusals an operator should see (5xx, 408), then writes the answer.
void send_http_error(TcpConn& client, const HttpError& e, const std::string& client_ip);
// Writes `response` (a complete HTTP answer), shuts the write side behind it
// and keeps reading; the caller closes the connection after kAnswerLinger.
void send_http_answer(TcpConn& client, std::string_view response);

}  // namespace wsgate::worker
