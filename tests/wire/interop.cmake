# Registration of the compatibility suites (tests/wire, tests/libnats, tests/js). Every suite
# is registered against the reference nats-server (must pass) and, when enabled, a second
# time against aerie-leaf with label "aerie":
#   cmake -S . -B build-x -DAERIE_INTEROP_LEAF=ON
#   ctest --test-dir build-x -L aerie                  (only the aerie-leaf variants)
#   ctest --test-dir build-x -L interop -LE aerie      (only the nats-server variants)
include_guard(GLOBAL)

option(AERIE_INTEROP_LEAF "Also register the compatibility suites against aerie-leaf (ctest label aerie)" ON)

# aerie_interop_test(<name> <timeout-seconds> <command...>)
# Adds <name> (AERIE_BROKER=nats-server) and, if enabled, <name>_aerie (AERIE_BROKER=aerie-leaf).
function(aerie_interop_test name timeout)
  add_test(NAME ${name} COMMAND ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${timeout} LABELS "interop"
    ENVIRONMENT "AERIE_BROKER=nats-server" SKIP_RETURN_CODE 77)
  if(AERIE_INTEROP_LEAF)
    add_test(NAME ${name}_aerie COMMAND ${ARGN})
    set_tests_properties(${name}_aerie PROPERTIES TIMEOUT ${timeout} LABELS "interop;aerie"
      ENVIRONMENT "AERIE_BROKER=aerie-leaf;AERIE_BUILD_DIR=${CMAKE_BINARY_DIR}" SKIP_RETURN_CODE 77)
  endif()
endfunction()
