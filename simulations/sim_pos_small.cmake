# CTest sim_pos_small: Proof-of-Service with 200 providers (40 % cheaters in
# four classes), 20 auditors, 20 epochs, 1 % datagram loss and 20 ms mean
# jitter, run twice with one seed. Asserts: each class's per-report
# detection within 5 points of 1-(1-x)^c (the small sample's tolerance);
# 30 % cheaters graded below full in >= 95 % of epochs; no honest provider
# penalised (unstable) and < 1 % given a pay cut; no report rejected; and
# both runs give the same summary apart from wall and settle times.
#   cmake -DSIM=<blockcloud-sim> -P sim_pos_small.cmake
set(args pos --providers 200 --auditors 20 --epochs 20 --seed 7 --cheaters 0.4 --loss 0.01 --jitter 20
         --progress 0 --json)

function(run_once result)
  execute_process(COMMAND ${SIM} ${args} OUTPUT_VARIABLE json ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "blockcloud-sim pos failed (exit ${rc}):\n${err}")
  endif()
  set(${result} "${json}" PARENT_SCOPE)
endfunction()

run_once(first)
run_once(second)

string(JSON classes LENGTH "${first}" cheaters)
math(EXPR last "${classes} - 1")
foreach(i RANGE ${last})
  string(JSON x GET "${first}" cheaters ${i} fail_rate)
  string(JSON got GET "${first}" cheaters ${i} report_detect)
  string(JSON want GET "${first}" cheaters ${i} report_predicted)
  string(JSON gap GET "${first}" cheaters ${i} report_gap_points)
  string(JSON epoch GET "${first}" cheaters ${i} epoch_detect)
  message(STATUS "x=${x}: report detection ${got} (predicted ${want}), epoch detection ${epoch}")
  if(gap GREATER 5)
    message(FATAL_ERROR "x=${x}: report detection ${got} is ${gap} points from the predicted ${want}")
  endif()
  if(x EQUAL 0.3 AND epoch LESS 0.95)
    message(FATAL_ERROR "x=0.3: only ${epoch} of epochs graded below full; expected >= 0.95")
  endif()
endforeach()

string(JSON penalised GET "${first}" honest penalised)
string(JSON occasional GET "${first}" honest occasional)
string(JSON rejected GET "${first}" probes rejected_reports)
string(JSON retries GET "${first}" probes retries)
message(STATUS "honest: penalised ${penalised}, occasional ${occasional}; retries ${retries}; rejected ${rejected}")
if(NOT penalised EQUAL 0)
  message(FATAL_ERROR "honest providers were penalised (fraction ${penalised}) at 1 % loss")
endif()
if(occasional GREATER 0.01)
  message(FATAL_ERROR "honest providers got a pay cut in ${occasional} of epochs (> 1 %) at 1 % loss")
endif()
if(retries EQUAL 0)
  message(FATAL_ERROR "no probe was retried at 1 % loss: the loss model is not reaching ProbeCore")
endif()
if(NOT rejected EQUAL 0)
  message(FATAL_ERROR "settle_epoch rejected ${rejected} reports from honest auditors")
endif()

foreach(var first second)
  string(REGEX REPLACE "\"(wall_s|peak_rss_mib|mean_ms|max_ms)\":[0-9.eE+-]+" "\"\\1\":x" ${var} "${${var}}")
endforeach()
if(NOT first STREQUAL second)
  message(FATAL_ERROR "same seed, different summaries:\n${first}\n${second}")
endif()
message(STATUS "deterministic: two runs printed the same summary")
