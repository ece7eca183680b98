#include "worker/net/graveyard.h"

namespace wsgate::worker {

int Graveyard::start(uv_loop_t* loop, AfterBurial after) {
  after_ = std::move(after);
  return idle_.init(uv_idle_init, loop, this);
}

void Graveyard::clear() {
  // A destructor may bury another object: it lands in the fresh list.
  std::vector<Dead> gone = std::move(dead_);
  dead_.clear();
  gone.clear();
}

void Graveyard::close() {
  clear();
  idle_.close();
}

void Graveyard::on_idle(uv_idle_t* h) {
  auto* self = static_cast<Graveyard*>(h->data);
  if (self == nullptr) {
    return;
  }
  uv_idle_stop(h);
  self->clear();
  if (self->after_) {
    self->after_();
  }
}

}  // namespace wsgate::worker
