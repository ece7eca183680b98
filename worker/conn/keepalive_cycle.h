// Keep-alive toward a client on its connection's one timer (ConnTimer): wait
// for a ping_interval of silence, ping, and take the client for half-open when
// nothing at all comes back within pong_timeout. The same cycle for a relaying
// Session and a Subscriber; what differs is asked of the owner:
//   bool keepalive_owns_timer() const  the cycle may use the timer now
//   Keepalive keepalive_; ConnTimer<Owner> timer_; uint64_t now_ms() const
//   const conf::Route& keepalive_route() const
//   void send_keepalive_ping()         sends it and calls ping_sent(), or
//                                      re-arms if it cannot go out now
//   void drop_half_open()              nothing came back
// The owner befriends KeepaliveCycle<Owner>.
#pragma once

#include "conf/config.h"
#include "worker/conn/keepalive.h"

namespace wsgate::worker {

template <class Owner>
struct KeepaliveCycle {
  // Lazy: the timer is not moved on every read. It fires when a ping would be
  // due had nothing been heard since it was armed, and is armed again for the
  // rest of the interval if something was: one wake-up per quiet client per
  // ping_interval, none at all for pinging off.
  static void arm(Owner& o) {
    if (!o.keepalive_owns_timer()) {
      return;
    }
    const uint64_t due = o.keepalive_.until_ping(o.now_ms(), o.keepalive_route().ping_interval);
    o.timer_.arm(conf::Duration(static_cast<int64_t>(due)), &KeepaliveCycle::on_ping_due);
  }

  static void on_ping_due(Owner& o) {
    if (!o.keepalive_owns_timer()) {
      return;
    }
    if (o.keepalive_.until_ping(o.now_ms(), o.keepalive_route().ping_interval) > 0) {
      arm(o);  // heard from meanwhile
      return;
    }
    o.send_keepalive_ping();
  }

  // The ping went out: the client has pong_timeout to send anything at all.
  static void ping_sent(Owner& o) {
    o.keepalive_.ping_sent();
    o.timer_.arm(o.keepalive_route().pong_timeout, &KeepaliveCycle::on_pong_due);
  }

  static void on_pong_due(Owner& o) {
    if (!o.keepalive_owns_timer()) {
      return;
    }
    if (o.keepalive_.half_open()) {
      o.drop_half_open();
    } else {
      arm(o);
    }
  }
};

}  // namespace wsgate::worker
