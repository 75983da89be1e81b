# heed_command_line_tests(PROGRAM...): for each program target, two fast tests run by
# cmake/check_command_line.cmake: --help prints its usage and exits 0; an unknown flag exits 2 with a
# message; neither writes a file.
function(heed_command_line_tests)
  foreach(program ${ARGN})
    foreach(mode help unknown)
      if(mode STREQUAL "help")
        set(arg --help)
      else()
        set(arg --no-such-flag)
      endif()
      add_test(NAME ${program}_command_line_${mode}
               COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:${program}> -DARG=${arg} -DMODE=${mode}
                       -DDIR=${CMAKE_CURRENT_BINARY_DIR}/command_line/${program}_${mode}
                       -P ${PROJECT_SOURCE_DIR}/cmake/check_command_line.cmake)
      set_tests_properties(${program}_command_line_${mode} PROPERTIES LABELS fast)
    endforeach()
  endforeach()
endfunction()
