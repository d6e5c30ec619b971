// Starts the workers (threads, or --procs forked processes each running --threads workers),
// drives the phases through their pipes, prints one progress line per second and merges the
// results. Every phase has a deadline: a dead or stuck server ends the run with report.fatal set,
// never a hang.
#pragma once

#include "loadtest/run_report.h"
#include "loadtest/scenario_config.h"

namespace rtchat::loadtest {

RunReport run_scenario(const ScenarioConfig& config);

}  // namespace rtchat::loadtest
