#include "worker/conn/http_answer.h"

#include "worker/log/log.h"

namespace wsgate::worker {

void send_http_error(TcpConn& client, const HttpError& e, const std::string& client_ip) {
  if (e.status >= 500 || e.status == 408) {
    LOG_INFO("answered %d to client %s: %s", e.status, client_ip.c_str(), e.why.c_str());
  }
  send_http_answer(client, format_http_error(e));
}

void send_http_answer(TcpConn& client, std::string_view response) {
  client.append(response);
  client.flush();
  client.shutdown_after_flush();
  // Keep reading (and discarding) until the client closes, so unread bytes
  // do not turn our close into a reset that eats the answer. If reading
  // cannot start, the owner's linger timer still ends the connection.
  client.start_reading();
}

}  // namespace wsgate::worker
