// Returning freed memory to the operating system.
#pragma once

namespace gw {

// Gives the allocator's free memory back to the system: tcmalloc's
// ReleaseFreeMemory when the binary links tcmalloc (src/app), glibc's
// malloc_trim otherwise. Allocators keep freed pages for reuse, so a burst
// of large request bodies would leave the process at its peak size while
// idle. Costs a walk of the allocator's free lists: call it after such a
// burst, not per request. Any thread.
void releaseFreeMemory();

}  // namespace gw
