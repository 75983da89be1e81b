# A mistake that must not compile. Run as
#   cmake -DCXX=g++ -DFLAGS=@flags.rsp -DSOURCE=file.cpp -DCASE=n [-DEXPECT=regex] -P check.cmake
# CASE 0 (the file's correct calls) must compile; any other CASE must fail, with a diagnostic that
# matches EXPECT, so that the test cannot pass on an unrelated error.
execute_process(COMMAND ${CXX} ${FLAGS} -fsyntax-only -DCASE=${CASE} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(CASE EQUAL 0)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} does not compile without a CASE:\n${out}")
  endif()
elseif(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} CASE=${CASE} compiles, but it must not")
elseif(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "${SOURCE} CASE=${CASE} fails to compile, but not with '${EXPECT}':\n${out}")
endif()
