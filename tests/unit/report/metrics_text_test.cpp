#include "worker/report/metrics_text.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "shm/backend_table.h"
#include "shm/metrics_layout.h"

namespace wsgate::worker {
namespace {

// One sample line of the text format 0.0.4: name, optional labels with
// escaped values, a number.
const std::regex kSample(
    R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9]+(\.[0-9]+)?)$)re");
const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$)");

struct Parsed {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, double> samples;     // "name{labels}" -> value
};

// Checks every line and that each family's samples follow its TYPE line in
// one group (the format requires it); fails the test otherwise.
Parsed parse_exposition(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line, current;
  std::set<std::string> closed;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      EXPECT_EQ(closed.count(m[1]), 0u) << "family repeated: " << line;
      if (!current.empty()) closed.insert(current);
      current = m[1];
      continue;
    }
    if (std::regex_match(line, m, kType)) {
      EXPECT_EQ(m[1], current) << "TYPE without its HELP: " << line;
      p.types[m[1]] = m[2];
      continue;
    }
    if (!std::regex_match(line, m, kSample)) {
      ADD_FAILURE() << "not a valid sample line: " << line;
      continue;
    }
    EXPECT_EQ(m[1], current) << "sample outside its family's group: " << line;
    EXPECT_EQ(std::string(m[1]).rfind("wsgate_", 0), 0u) << line;
    const std::string key = line.substr(0, line.rfind(' '));
    EXPECT_EQ(p.samples.count(key), 0u) << "duplicate series: " << key;
    p.samples[key] = std::stod(line.substr(line.rfind(' ') + 1));
  }
  return p;
}

struct MetricsFixture : ::testing::Test {
  std::unique_ptr<shm::Table> storage = std::make_unique<shm::Table>();
  shm::BackendTable table{*storage};

  void SetUp() override {
    table.set_slot_count(3);
    table.add_backend("chat", "127.0.0.1:9001", 1);
    table.add_backend("chat", "127.0.0.1:9002", 3);
    table.claim_slot(0, 100, shm::SlotRole::proxy, 1);
    table.claim_slot(1, 101, shm::SlotRole::proxy, 1);
    table.claim_slot(2, 102, shm::SlotRole::admin, 1);
  }
  shm::MetricsRow& row(uint32_t s) { return storage->metrics[s]; }
};

TEST_F(MetricsFixture, EveryLineIsValidAndFamiliesAreGrouped) {
  const Parsed p = parse_exposition(metrics_text(*storage, nullptr, 1000));
  EXPECT_EQ(p.types.at("wsgate_handshakes_total"), "counter");
  EXPECT_EQ(p.types.at("wsgate_backend_sessions"), "gauge");
  EXPECT_EQ(p.types.at("wsgate_reloads_total"), "counter");
  for (const auto& [family, type] : p.types) {
    EXPECT_TRUE(type != "counter" || (family.size() > 6 && family.substr(family.size() - 6) == "_total")) << family;
  }
}

TEST_F(MetricsFixture, CountersAreSummedOverSlots) {
  shm::bump(row(0).handshakes[shm::http_status_index(101)], 3);
  shm::bump(row(1).handshakes[shm::http_status_index(101)], 4);
  shm::bump(row(1).handshakes[shm::http_status_index(404)]);
  shm::bump(row(0).handshakes[shm::http_status_index(418)]);  // not in the table: "other"
  shm::bump(row(0).messages[0], 10);
  shm::bump(row(1).bytes[1], 640);
  shm::bump(row(0).close_received[0][shm::close_code_index(1000)], 2);
  shm::bump(row(1).close_sent[1][shm::close_code_index(4001)]);
  shm::bump(row(1).backend_upgrades[1], 5);
  table.add_session(0, 1, 2);
  table.add_session(1, 1, 1);
  const Parsed p = parse_exposition(metrics_text(*storage, nullptr, 1000));
  EXPECT_EQ(p.samples.at("wsgate_handshakes_total{code=\"101\"}"), 7);
  EXPECT_EQ(p.samples.at("wsgate_handshakes_total{code=\"404\"}"), 1);
  EXPECT_EQ(p.samples.at("wsgate_handshakes_total{code=\"other\"}"), 1);
  EXPECT_EQ(p.samples.at("wsgate_handshakes_total{code=\"503\"}"), 0);
  EXPECT_EQ(p.samples.at("wsgate_messages_total{direction=\"client_to_backend\"}"), 10);
  EXPECT_EQ(p.samples.at("wsgate_bytes_total{direction=\"backend_to_client\"}"), 640);
  EXPECT_EQ(p.samples.at("wsgate_close_frames_total{direction=\"received\",peer=\"client\",code=\"1000\"}"), 2);
  EXPECT_EQ(p.samples.at("wsgate_close_frames_total{direction=\"sent\",peer=\"backend\",code=\"other\"}"), 1);
  EXPECT_EQ(p.samples.at("wsgate_backend_upgrades_total{pool=\"chat\",backend=\"127.0.0.1:9002\"}"), 5);
  EXPECT_EQ(p.samples.at("wsgate_backend_sessions{pool=\"chat\",backend=\"127.0.0.1:9002\"}"), 3);
  EXPECT_EQ(p.samples.at("wsgate_backend_weight{pool=\"chat\",backend=\"127.0.0.1:9002\"}"), 3);
  EXPECT_EQ(p.samples.at("wsgate_worker_sessions{worker=\"0\",generation=\"1\"}"), 2);
  EXPECT_EQ(p.samples.at("wsgate_worker_up{worker=\"2\",role=\"admin\",generation=\"1\"}"), 1);
  EXPECT_EQ(p.samples.at("wsgate_backend_state{pool=\"chat\",backend=\"127.0.0.1:9001\",state=\"up\"}"), 1);
  EXPECT_EQ(p.samples.at("wsgate_backend_state{pool=\"chat\",backend=\"127.0.0.1:9001\",state=\"down\"}"), 0);
  // Admin and other roles hold no client connections: no series for them.
  EXPECT_EQ(p.samples.count("wsgate_worker_connections{worker=\"2\",generation=\"1\"}"), 0u);
}

TEST_F(MetricsFixture, ADeadWorkersCountersStay) {
  shm::bump(row(0).handshakes[shm::http_status_index(101)], 3);
  table.clear_slot(0);  // what the master does when the worker dies
  const Parsed p = parse_exposition(metrics_text(*storage, nullptr, 1000));
  EXPECT_EQ(p.samples.at("wsgate_handshakes_total{code=\"101\"}"), 3);
  EXPECT_EQ(p.samples.at("wsgate_worker_up{worker=\"0\",role=\"proxy\",generation=\"1\"}"), 0);
}

TEST_F(MetricsFixture, HealthRoundTripIsInSecondsOnceMeasured) {
  shm::CheckResult ok{true, 1500, {}};
  table.record_check(0, ok, 10);
  const Parsed p = parse_exposition(metrics_text(*storage, nullptr, 1000));
  EXPECT_DOUBLE_EQ(p.samples.at("wsgate_backend_health_rtt_seconds{pool=\"chat\",backend=\"127.0.0.1:9001\"}"), 0.0015);
  EXPECT_EQ(p.samples.count("wsgate_backend_health_rtt_seconds{pool=\"chat\",backend=\"127.0.0.1:9002\"}"), 0u);
}

TEST_F(MetricsFixture, ReloadAndDrainProgressComeFromTheHeader) {
  storage->header.reloads_ok.store(4);
  storage->header.reloads_failed.store(1);
  storage->header.generation.store(2);
  storage->header.draining_generations.store(1);
  storage->slots[1].connections.store(7);  // slot 1 runs generation 1: draining
  const Parsed p = parse_exposition(metrics_text(*storage, nullptr, 1000));
  EXPECT_EQ(p.samples.at("wsgate_reloads_total{result=\"ok\"}"), 4);
  EXPECT_EQ(p.samples.at("wsgate_reloads_total{result=\"failed\"}"), 1);
  EXPECT_EQ(p.samples.at("wsgate_generation"), 2);
  EXPECT_EQ(p.samples.at("wsgate_draining_generations"), 1);
  EXPECT_EQ(p.samples.at("wsgate_draining_connections"), 7);
}

TEST(LabelValue, EscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(label_value("plain"), "plain");
}

}  // namespace
}  // namespace wsgate::worker
