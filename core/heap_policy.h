// glibc malloc settings for a server whose memory comes in bursts (a join storm: wslay contexts
// while frames are parsed, ~1 MB presence_state frames, per-turn presence diffs) and then stays
// idle for hours with tens of thousands of sockets.
#pragma once

#include <malloc.h>

#include <cstdint>

namespace rtchat::core {

// Called once at start, before any thread. Profiled in a storm of joins into rooms of 100: 17% of
// the server's CPU went to sysmalloc, madvise and the page faults of heap tops given back after
// every burst and taken again the next turn. Fixed thresholds stop that churn (and stop glibc's
// dynamic mmap threshold from moving): frames up to 4 MiB (the outbound cap) come from the
// arenas, and up to 64 MiB may stay free at a heap's top between bursts. release_free_heap()
// gives it back once things are quiet.
inline void tune_heap() {
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

// Returns whole free pages of every arena to the kernel (malloc_trim walks the free chunks,
// not only the heap tops): after a storm the heap is mostly holes between the live connections'
// small blocks, which the RSS would otherwise keep forever. Costs a walk of the free lists
// (about a millisecond for a heap of a hundred MB): call it every few seconds, not per turn.
inline void release_free_heap() { malloc_trim(0); }

}  // namespace rtchat::core
