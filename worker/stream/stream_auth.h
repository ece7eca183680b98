// Client keys for routes with `auth`: where a key comes from (Authorization
// header, query parameter, or a field of the first message) and whether it
// is one of the configured keys. Keys are compared in constant time and are
// never logged.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "worker/ws/client_handshake.h"

namespace wsgate::worker {

// True when `candidate` equals one of `keys`. Every key is compared in full,
// whatever matched, so the time taken says nothing about where they differ.
bool key_matches(const std::vector<std::string>& keys, std::string_view candidate);

// "Authorization: Bearer K" (scheme case-insensitive); nullopt when absent or
// another scheme.
std::optional<std::string> key_from_header(const ClientRequest& req);

// The value of query parameter `name` in `target`, percent-decoded (a '+'
// stays a '+': base64 keys keep working unencoded); nullopt when absent,
// badly encoded or given more than once.
std::optional<std::string> key_from_query(std::string_view target, std::string_view name);

enum class FirstMessageAuth { ok, not_json, no_field, wrong_key };
// The first message must be a JSON object whose field `field` is a key. The
// field is read as text: a string, or a bare number or word (property_tree,
// Boost's JSON reader in Debian 12, does not tell them apart).
FirstMessageAuth check_first_message(std::string_view text, const conf::Auth& auth);

// The handshake-time check of `auth` (header or query); first_message always
// passes here. On failure, `why` says what was wrong without the key.
bool handshake_auth_ok(const conf::Auth& auth, const ClientRequest& req, std::string& why);

}  // namespace wsgate::worker
