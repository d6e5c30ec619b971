// Built-in unit checks for the load tool's own pieces (histogram, body stamp, JWT, pipe
// messages, report). `rtchat-loadtest --self-check` runs them; the e2e test calls it too, so the
// pieces are checked without a GoogleTest target of their own.
#pragma once

namespace rtchat::loadtest {

// Prints each failure to stderr; returns 0 when all pass, 1 otherwise.
int run_self_checks();

}  // namespace rtchat::loadtest
