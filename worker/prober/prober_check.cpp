#include "worker/prober/prober_check.h"

#include "worker/log/log.h"

namespace wsgate::worker {

ProbeCheck::ProbeCheck(ProberContext& ctx, const sockaddr_storage& address, std::string host, std::string path,
                       Done done)
    : address_(address),
      done_(std::move(done)),
      conn_(ctx.loop, ctx.buffers, ctx.read_buffer(), *this),
      exchange_(std::move(host), std::move(path), sink_, ctx.frames) {}

ProbeCheck::~ProbeCheck() {
  connect_.cancel();
  conn_.close();
}

void ProbeCheck::start() {
  started_ns_ = uv_hrtime();
  int r = conn_.init();
  if (r == 0) {
    r = connect_.start(conn_.tcp(), reinterpret_cast<const sockaddr*>(&address_), *this);
  }
  if (r != 0) {
    finish(false, "connect() failed (" + log::uv_error_text(r) + ")");
  }
}

void ProbeCheck::on_connect_done(int status) {
  if (finished_) {
    return;
  }
  if (status != 0) {
    finish(false, "connect() failed (" + log::uv_error_text(status) + ")");
    return;
  }
  connected_ = true;
  uv_tcp_nodelay(conn_.tcp(), 1);
  exchange_.start();
  conn_.flush();
  int r = conn_.start_reading();
  if (r != 0 && !finished_) {
    finish(false, "read_start() failed (" + log::uv_error_text(r) + ")");
  }
}

void ProbeCheck::time_out(int64_t timeout_ms) {
  if (finished_) {
    return;
  }
  if (!connected_) {
    finish(false, "connect() timed out after " + std::to_string(timeout_ms) + " ms");
    return;
  }
  exchange_.on_timeout(timeout_ms);
  finish(false, exchange_.error());
}

void ProbeCheck::on_conn_read(TcpConn&, const uint8_t* data, size_t n) {
  if (finished_) {
    return;
  }
  ProbeExchange::Phase before = exchange_.phase();
  exchange_.on_bytes(data, n);
  after(before);
}

void ProbeCheck::on_conn_eof(TcpConn&) {
  if (finished_) {
    return;
  }
  ProbeExchange::Phase before = exchange_.phase();
  exchange_.on_eof();
  after(before);
}

void ProbeCheck::on_conn_error(TcpConn&, int uv_status, const char* while_doing) {
  if (finished_) {
    return;
  }
  exchange_.on_error(std::string(while_doing) + " failed (" + log::uv_error_text(uv_status) + ")");
  finish(false, exchange_.error());
}

// Sends what the exchange queued and reports it once it is over. The round
// trip is measured when the pong arrives, before the close costs anything.
void ProbeCheck::after(ProbeExchange::Phase before) {
  ProbeExchange::Phase now = exchange_.phase();
  if (before == ProbeExchange::Phase::ponging && now != ProbeExchange::Phase::ponging &&
      now != ProbeExchange::Phase::failed) {
    rtt_us_ = static_cast<int64_t>((uv_hrtime() - started_ns_) / 1000);
  }
  if (now == ProbeExchange::Phase::done) {
    finish(true, {});
  } else if (now == ProbeExchange::Phase::failed) {
    finish(false, exchange_.error());
  } else {
    conn_.flush();  // may report a write error through on_conn_error
  }
}

void ProbeCheck::finish(bool ok, std::string error) {
  if (finished_) {
    return;
  }
  finished_ = true;
  connect_.cancel();
  // Closed at once, from inside its own callback perhaps: TcpConn allows
  // that, and this object (and so the TcpConn) lives on until its owner
  // drops it outside our callbacks.
  conn_.close();
  done_(ProbeOutcome{ok, rtt_us_, std::move(error)});
}

}  // namespace wsgate::worker
