#include "worker/report/status_json.h"

#include <gtest/gtest.h>

#include <memory>

#include "shm/backend_table.h"

namespace wsgate::worker {
namespace {

// The exact shape `wsgate status --json` printed before the builder moved
// here: scripts and tests/support/gateway.cpp read it.
TEST(StatusJson, KeepsTheShapeOfWsgateStatus) {
  auto storage = std::make_unique<shm::Table>();
  shm::BackendTable t(*storage);
  t.set_slot_count(2);
  t.add_backend("chat", "127.0.0.1:9001", 2);
  t.claim_slot(0, 4242, shm::SlotRole::proxy, 1);
  t.claim_slot(1, 4343, shm::SlotRole::admin, 1);
  t.add_connection(0, 3);
  t.add_session(0, 0, 3);
  // The keys of a worker up to "role", and of a backend up to "last_error",
  // keep their order and form; others are only ever added after them.
  const std::string json = status_json(*storage, nullptr, 5000);
  EXPECT_EQ(json.rfind("{\"workers\":[{\"slot\":0,\"pid\":4242,\"connections\":3,\"respawns\":0,\"role\":\"proxy\"", 0),
            0u)
      << json;
  EXPECT_NE(json.find("{\"slot\":1,\"pid\":4343,\"connections\":0,\"respawns\":0,\"role\":\"admin\""),
            std::string::npos)
      << json;
  EXPECT_NE(
      json.find("\"backends\":[{\"pool\":\"chat\",\"address\":\"127.0.0.1:9001\",\"state\":\"up\",\"weight\":2,"
                "\"sessions\":3,\"failures\":0,\"per_worker\":[3,0],\"health\":\"up\",\"checks\":\"passive\","
                "\"rtt_ms\":null,\"checks_ok\":0,\"checks_failed\":0,\"state_changes\":0,\"last_check_ago_ms\":null,"
                "\"last_error\":\"\""),
      std::string::npos)
      << json;
  EXPECT_EQ(json.substr(json.size() - 2), "}\n");
}

TEST(StatusJson, EscapesTheLastError) {
  auto storage = std::make_unique<shm::Table>();
  shm::BackendTable t(*storage);
  t.set_slot_count(1);
  t.add_backend("chat", "127.0.0.1:9001", 1);
  t.set_last_error(0, "answered \"503\"");
  const std::string json = status_json(*storage, nullptr, 0);
  EXPECT_NE(json.find("\"last_error\":\"answered \\\"503\\\"\""), std::string::npos) << json;
}

}  // namespace
}  // namespace wsgate::worker
