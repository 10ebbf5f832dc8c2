# CTest sim_bft_small: the committee (BftCore) with 10 validators of random
# stakes, 8 heights, run all up (twice, one seed) and with the top power
# crashed just under 1/3. Asserts: every live validator decided every height
# (10 x 8, then live x 8), no evidence, the finality/floor ratio is printed
# and its median is at least 1 (the floor is a lower bound) and below 3,
# the crashed run really crashed power (> 0, < 1/3), and both all-up runs
# give the same summary apart from wall time and RSS.
#   cmake -DSIM=<blockcloud-sim> -P sim_bft_small.cmake
set(common bft --validators 10 --heights 8 --seed 5 --stakes random --commit-ms 100 --progress 0)

function(run_sim result)
  execute_process(COMMAND ${SIM} ${common} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "blockcloud-sim ${common} ${ARGN} failed (exit ${rc}):\n${err}")
  endif()
  set(${result} "${out}" PARENT_SCOPE)
endfunction()

function(check json label)
  string(JSON live GET "${json}" live)
  string(JSON decisions GET "${json}" decisions)
  string(JSON evidence GET "${json}" evidence)
  string(JSON ratio GET "${json}" ratio p50)
  string(JSON fin GET "${json}" finality_ms p50)
  string(JSON floor GET "${json}" floor_ms p50)
  math(EXPR want "${live} * 8")
  message(STATUS "${label}: ${live} live, ${decisions} decisions, finality p50 ${fin} ms, floor p50 ${floor} ms, ratio p50 ${ratio}")
  if(NOT decisions EQUAL want)
    message(FATAL_ERROR "${label}: ${decisions} decisions, expected ${want} (every live validator, every height)")
  endif()
  if(NOT evidence EQUAL 0)
    message(FATAL_ERROR "${label}: ${evidence} evidence events from honest validators")
  endif()
  if(ratio LESS 1 OR NOT ratio LESS 3)
    message(FATAL_ERROR "${label}: median finality/floor ratio ${ratio} outside [1, 3)")
  endif()
endfunction()

run_sim(up --json)
run_sim(again --json)
run_sim(crashed --json --crash top)
check("${up}" "all up")
check("${crashed}" "top crashed")

string(JSON crashed_power GET "${crashed}" crashed_power_fraction)
if(NOT crashed_power GREATER 0 OR NOT crashed_power LESS 0.3334)
  message(FATAL_ERROR "crashed run: crashed power fraction ${crashed_power}, expected in (0, 1/3)")
endif()

run_sim(text)
if(NOT text MATCHES "ratio finality / floor")
  message(FATAL_ERROR "the text summary has no finality/floor ratio row:\n${text}")
endif()

foreach(var up again)
  string(REGEX REPLACE "\"(wall_s|peak_rss_mib)\":[0-9.eE+-]+" "\"\\1\":x" ${var} "${${var}}")
endforeach()
if(NOT up STREQUAL again)
  message(FATAL_ERROR "same seed, different summaries:\n${up}\n${again}")
endif()
message(STATUS "deterministic: two runs printed the same summary")
