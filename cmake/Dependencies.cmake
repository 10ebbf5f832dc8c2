# Every third-party dependency, found once here and exposed as imported targets.
# All come from Debian bookworm packages installed by scripts/bootstrap.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.81.0 EXACT REQUIRED CONFIG COMPONENTS json)
find_package(CapnProto REQUIRED)
find_package(leveldb REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(doctest REQUIRED)
pkg_check_modules(SECP256K1 REQUIRED IMPORTED_TARGET libsecp256k1)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)

# SimGrid: runtime library from libsimgrid3.32, headers unpacked by
# scripts/bootstrap (libsimgrid-dev conflicts with Boost 1.81; see there).
set(SIMGRID_PREFIX "/opt/blockcloud-deps/simgrid" CACHE PATH "Where scripts/bootstrap unpacked SimGrid's headers")
find_library(SIMGRID_LIBRARY NAMES simgrid libsimgrid.so.3.32 PATHS /usr/lib/x86_64-linux-gnu)
if(BLOCKCLOUD_SIMULATIONS AND SIMGRID_LIBRARY AND EXISTS ${SIMGRID_PREFIX}/usr/include/simgrid/s4u.hpp)
  add_library(SimGrid::simgrid SHARED IMPORTED)
  set_target_properties(SimGrid::simgrid PROPERTIES
    IMPORTED_LOCATION ${SIMGRID_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${SIMGRID_PREFIX}/usr/include)
  set(BLOCKCLOUD_HAVE_SIMGRID ON)
else()
  if(BLOCKCLOUD_SIMULATIONS)
    message(WARNING "SimGrid not found (run scripts/bootstrap): simulations are not built")
  endif()
  set(BLOCKCLOUD_HAVE_SIMGRID OFF)
endif()

# Compiles Cap'n Proto schemas into a static library.
#   blockcloud_capnp_library(<target> <schema.capnp>...)
function(blockcloud_capnp_library target)
  set(CAPNPC_SRC_PREFIX ${CMAKE_SOURCE_DIR})
  set(CAPNPC_OUTPUT_DIR ${CMAKE_BINARY_DIR}/generated)
  file(MAKE_DIRECTORY ${CAPNPC_OUTPUT_DIR})
  capnp_generate_cpp(srcs hdrs ${ARGN})
  add_library(${target} STATIC ${srcs} ${hdrs})
  target_include_directories(${target} PUBLIC ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(${target} PUBLIC CapnProto::capnp)
  target_compile_options(${target} PRIVATE -w)
endfunction()

# One doctest executable per folder of tests, registered in CTest. Every suite
# links the one compiled copy of doctest's runner (bc_doctest_main, defined
# in tests/CMakeLists.txt).
#   blockcloud_test_suite(<name> SOURCES <files> LIBS <libs>)
function(blockcloud_test_suite name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} bc_doctest_main)
  add_test(NAME ${name} COMMAND ${name} --no-intro=true)
endfunction()
