#include "worker/net/ticket_keys.h"

#include <cstring>

#include "worker/net/random_bytes.h"

namespace wsgate::worker {

std::string TicketKeySet::serialize() const {
  std::string out;
  out.reserve(keys.size() * sizeof(TicketKey));
  for (const TicketKey& k : keys) {
    out.append(reinterpret_cast<const char*>(&k), sizeof k);
  }
  return out;
}

std::optional<TicketKeySet> TicketKeySet::parse(std::string_view text) {
  if (text.size() % sizeof(TicketKey) != 0 || text.size() / sizeof(TicketKey) > kKept) {
    return std::nullopt;
  }
  TicketKeySet s;
  s.keys.resize(text.size() / sizeof(TicketKey));
  if (!text.empty()) {
    std::memcpy(s.keys.data(), text.data(), text.size());
  }
  return s;
}

TicketKeySet TicketKeySet::rotated() const {
  TicketKeySet next;
  TicketKey fresh{};
  fill_random(fresh.name, sizeof fresh.name);
  fill_random(fresh.aes, sizeof fresh.aes);
  fill_random(fresh.hmac, sizeof fresh.hmac);
  next.keys.push_back(fresh);
  for (size_t i = 0; i < keys.size() && next.keys.size() < kKept; ++i) {
    next.keys.push_back(keys[i]);
  }
  return next;
}

const TicketKeySet& TicketKeys::current() {
  if (blob_ == nullptr) {
    return set_;
  }
  const uint64_t seq = blob_->sequence();
  if (seq != seen_ && seq % 2 == 0) {
    if (auto text = blob_->read()) {
      if (auto parsed = TicketKeySet::parse(text->first)) {
        set_ = std::move(*parsed);
        seen_ = text->second;
      }
    }
  }
  return set_;
}

}  // namespace wsgate::worker
