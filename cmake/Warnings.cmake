# Warnings for project code (not for third-party headers, which are -isystem).
# -Wshadow=local and -Wno-maybe-uninitialized are GCC's own (clang, in the
# fuzz build, would warn that it does not know them).
function(gw_warnings target)
  set(gcc_only "")
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    set(gcc_only -Wshadow=local)
  endif()
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic ${gcc_only}
    -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
    -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
endfunction()
