// Session ticket keys shared by every worker and kept across reloads, so a
// client resumes whichever worker it reaches, also after a SIGHUP or a new
// generation (nginx and HAProxy lose theirs unless the operator manages key
// files). The master makes a fresh key every `ticket_rotation` and keeps the
// previous two, so a ticket stays good for two to three rotation periods.
// They live in a 0600 blob mapped before any fork (like the config text).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shm/config_blob.h"

namespace wsgate::worker {

struct TicketKey {
  uint8_t name[16];
  uint8_t aes[32];   // AES-256-CBC
  uint8_t hmac[32];  // HMAC-SHA256
};

struct TicketKeySet {
  static constexpr size_t kKept = 3;  // the newest encrypts; all decrypt
  std::vector<TicketKey> keys;        // newest first

  std::string serialize() const;
  static std::optional<TicketKeySet> parse(std::string_view text);
  // A fresh random key in front; the oldest beyond kKept dropped.
  TicketKeySet rotated() const;
};

// A worker's view: re-reads the blob when the master changed it.
class TicketKeys {
 public:
  explicit TicketKeys(const shm::ConfigBlob* blob) : blob_(blob) {}
  const TicketKeySet& current();

 private:
  const shm::ConfigBlob* blob_;
  uint64_t seen_ = 0;
  TicketKeySet set_;
};

}  // namespace wsgate::worker
