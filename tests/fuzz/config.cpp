// The YAML config loader (conf/loader*.cpp, yaml-cpp underneath), given any
// text as the file. It must load or throw ConfigError: any other exception,
// crash or hang is a finding (a reload runs it in the master). Keys files
// named relative to the config are found in a directory of this process's
// own, which holds one: fx.keys.
#include <cstdint>
#include <string>

#include "conf/loader.h"
#include "tests/fuzz/fuzz_dir.h"
#include "tests/fuzz/fuzz_support.h"

using namespace wsgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzz::FuzzDir dir = [] {
    // Values the seeds' ${NAME} expansions read.
    ::setenv("WSGATE_FUZZ_KEY", "k-from-env", 1);
    return fuzz::FuzzDir();
  }();
  static const bool keys = [] {
    dir.write("fx.keys", "# fuzz keys\nk1-secret\nk2\n");
    return true;
  }();
  (void)keys;
  const std::string text(fuzz::as_text(data, size));
  try {
    const conf::Config config = conf::load_config_text(text, dir.file("wsgate.yaml"));
    FUZZ_CHECK(!config.pools.empty() || !config.streams.empty());
    FUZZ_CHECK(!config.routes.empty());
  } catch (const conf::ConfigError& e) {
    FUZZ_CHECK(e.what()[0] != '\0');
  }
  return 0;
}
