// `wsgate status`: reads the running instance's shared table read-only and
// prints it; it never talks to the workers.
#pragma once

#include <ostream>
#include <string>

#include "shm/layout.h"
#include "shm/stream_layout.h"

namespace wsgate::master {

// Returns the process exit code: 0 printed, 1 no instance or a foreign segment.
int run_status_command(const std::string& shm_name, bool json, std::ostream& out, std::ostream& err);

// The report for a table (and the stream channels, when there are any), as
// text or as JSON.
void print_status(const shm::Table& table, const shm::StreamsHeader* streams, bool json, std::ostream& out);

}  // namespace wsgate::master
