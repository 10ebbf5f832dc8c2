# CTest sim_dht_small: a 300-node DHT in both modes, run twice with one seed,
# once on one thread and once on two. Asserts: lookup success >= 99 % in each
# mode; Coral finds values inside clusters (level 2) while Kademlia only uses
# level 0; and both runs give the same summary once wall time, peak RSS and
# the thread count are removed.
#   cmake -DSIM=<blockcloud-sim> -DOUT=<dir> -P sim_dht_small.cmake
set(args dht --nodes 300 --seed 11 --mode both --join-time 10 --warmup 15 --duration 20 --progress 0)

function(run_once tag threads result)
  file(REMOVE_RECURSE ${OUT}/${tag})
  execute_process(COMMAND ${SIM} ${args} --threads ${threads} --out ${OUT}/${tag}
                  OUTPUT_VARIABLE json ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "blockcloud-sim run ${tag} failed (exit ${rc}):\n${err}")
  endif()
  set(${result} "${json}" PARENT_SCOPE)
endfunction()

run_once(a 1 first)
run_once(b 2 second)

foreach(mode coral kademlia)
  string(JSON rate GET "${first}" runs ${mode} success_rate)
  string(JSON started GET "${first}" runs ${mode} lookups started)
  string(JSON l2 GET "${first}" runs ${mode} found_in_level 2)
  string(JSON l0 GET "${first}" runs ${mode} found_in_level 0)
  message(STATUS "${mode}: ${started} lookups, success rate ${rate}, found in level 0: ${l0}, level 2: ${l2}")
  if(started LESS 100)
    message(FATAL_ERROR "${mode}: only ${started} lookups ran; the workload did not start")
  endif()
  if(rate LESS 0.99)
    message(FATAL_ERROR "${mode}: lookup success rate ${rate} is below 0.99; see ${OUT}/a/${mode}/lookups.csv")
  endif()
endforeach()
string(JSON coral_l2 GET "${first}" runs coral found_in_level 2)
string(JSON kad_l2 GET "${first}" runs kademlia found_in_level 2)
if(coral_l2 EQUAL 0)
  message(FATAL_ERROR "coral found no value inside a level-2 cluster: clustering does not work")
endif()
if(NOT kad_l2 EQUAL 0)
  message(FATAL_ERROR "kademlia reported values found at level 2; it has only the global level")
endif()

# Determinism: identical summaries apart from wall time and memory.
foreach(var first second)
  string(REGEX REPLACE "\"(wall_s|peak_rss_mib|threads)\":[0-9.eE+-]+" "\"\\1\":x" ${var} "${${var}}")
endforeach()
if(NOT first STREQUAL second)
  message(FATAL_ERROR "same seed, different summaries:\n${first}\n${second}")
endif()
message(STATUS "deterministic: 1 and 2 threads printed the same summary")
