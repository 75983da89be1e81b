# Fails unless README contains EXAMPLE's full text.
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "${example}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md no longer contains ${EXAMPLE} verbatim: copy the file into the README's quick start")
endif()
