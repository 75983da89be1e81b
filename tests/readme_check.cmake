# Fails unless README (the README or a page of docs/) contains EXAMPLE's full text.
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "${example}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README} no longer contains ${EXAMPLE} verbatim: copy the file into it")
endif()
