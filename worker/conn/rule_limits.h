// The RFC 6455 rules a peer's frames are held to on a route: the message
// size and fragment caps come from the config snapshot the connection
// started with (a reload does not change a running connection's limits).
#pragma once

#include "conf/config.h"
#include "worker/ws/message_rules.h"

namespace wsgate::worker {

// `from_client`: client frames must be masked, a backend's must not.
inline RuleLimits rule_limits(const conf::Config& config, const conf::Route& route, bool from_client) {
  return RuleLimits{config.limits.max_message, config.limits.max_fragments, from_client, route.validate_utf8};
}

}  // namespace wsgate::worker
