# gw_add_test(NAME SOURCES ... LIBS ...): one GoogleTest executable, its tests
# registered with CTest individually.
function(gw_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    GW_SOURCE_DIR="${PROJECT_SOURCE_DIR}" GW_TESTDATA_DIR="${PROJECT_SOURCE_DIR}/tests/testdata")
  # A test may look at any layer.
  target_include_directories(${name} PRIVATE ${GW_LAYER_SCOPES_DIR}/app)
  gw_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()
