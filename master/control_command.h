// `wsgate drain | undrain | rebalance`: runtime control of the running
// instance through its shared table (shm/backend_control.h). Like status it
// finds the instance by the config file; unlike status it maps the segment
// read-write, and it writes only the control fields. It never signals a process.
#pragma once

#include <ostream>
#include <string>

#include "master/cli.h"

namespace wsgate::master {

// Returns the process exit code: 0 done, 1 no instance, an unknown backend,
// or nothing to cancel.
int run_control_command(const std::string& shm_name, const Command& cmd, std::ostream& out, std::ostream& err);

}  // namespace wsgate::master
