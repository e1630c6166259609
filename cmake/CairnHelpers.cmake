# Warnings as errors for the project's own code only (third-party headers are included as SYSTEM).
set(CAIRN_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wunused -Woverloaded-virtual -Wimplicit-fallthrough -Werror
    # GCC 12 reports false -Wrestrict and -Wstringop-overflow on std::string at -O3 (GCC bug 105329).
    -Wno-restrict -Wno-stringop-overflow)

# cairn_library(NAME SOURCES ... [DEPS ...])
#   A static library of the project, with the repository root as its include directory.
#   With CAIRN_UNITY_BUILD its sources compile as one translation unit (CMake's unity build,
#   batches of CAIRN_UNITY_BATCH_SIZE): docs/performance.md, "Build time".
function(cairn_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${CAIRN_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  if(CAIRN_UNITY_BUILD)
    set_target_properties(${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${CAIRN_UNITY_BATCH_SIZE})
  endif()
endfunction()

# cairn_executable(NAME SOURCES ... [DEPS ...])
function(cairn_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${CAIRN_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()

# cairn_test(NAME SOURCES ... [DEPS ...] [LABELS ...] [TIMEOUT seconds])
#   One GoogleTest binary; each TEST becomes a ctest entry (discovered when ctest runs).
#   Tests get CAIRN_SHARED_DIR in their environment and CAIRN_DEFAULT_{SHARED,BIN,SOURCE}_DIR as
#   compile definitions.
function(cairn_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${CAIRN_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  # An empty LABELS value would swallow the next property name: pass labels only when given.
  # gtest_discover_tests cannot carry a list-valued ENVIRONMENT through its generated script, so
  # only CAIRN_SHARED_DIR goes in the environment; every test also gets the three paths as
  # compile-time defaults (CAIRN_DEFAULT_SHARED_DIR, CAIRN_DEFAULT_BIN_DIR, CAIRN_DEFAULT_SOURCE_DIR).
  target_compile_definitions(${name} PRIVATE
    CAIRN_DEFAULT_SHARED_DIR="${CAIRN_SHARED_DIR}"
    CAIRN_DEFAULT_BIN_DIR="${PROJECT_BINARY_DIR}/bin"
    CAIRN_DEFAULT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  set(props TIMEOUT ${ARG_TIMEOUT} ENVIRONMENT "CAIRN_SHARED_DIR=${CAIRN_SHARED_DIR}")
  if(ARG_LABELS)
    list(APPEND props LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES ${props})
endfunction()
