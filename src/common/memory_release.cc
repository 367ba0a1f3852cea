#include "common/memory_release.h"

#include <malloc.h>

// Defined by tcmalloc when it is linked (gperftools' C interface); a weak
// reference is null otherwise, so the libraries need not know which
// allocator the binary has.
extern "C" void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));

namespace gw {

void releaseFreeMemory() {
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    MallocExtension_ReleaseFreeMemory();
    return;
  }
  malloc_trim(0);
}

}  // namespace gw
