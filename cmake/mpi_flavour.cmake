# Which MPI find_package(MPI) found, and whether its launcher belongs to it.
# Result: SCOUTER_MPI_FLAVOUR ("Open MPI", "MPICH" for MPICH and its derivatives, or "MPI"),
# printed with the library's version and the launcher. A launcher of the other MPI (Debian's
# /usr/bin/mpiexec is Open MPI's even when -DMPI_C_COMPILER=mpicc.mpich) would start every rank
# as a world of one: that is a configure error naming the launcher to pass.

string(REGEX MATCH "^[^\n]*" _scouter_mpi_version "${MPI_C_LIBRARY_VERSION_STRING}")
string(REGEX REPLACE "[ \t]+" " " _scouter_mpi_version "${_scouter_mpi_version}")
if(_scouter_mpi_version MATCHES "Open MPI")
  set(SCOUTER_MPI_FLAVOUR "Open MPI")
elseif(_scouter_mpi_version MATCHES "MPICH|Intel\\(R\\) MPI|MVAPICH|CRAY MPICH")
  set(SCOUTER_MPI_FLAVOUR "MPICH")
else()
  set(SCOUTER_MPI_FLAVOUR "MPI")
endif()
message(STATUS "MPI: ${SCOUTER_MPI_FLAVOUR} (${_scouter_mpi_version}; ${MPI_C_LIBRARIES}), "
               "launcher ${MPIEXEC_EXECUTABLE}")

if(MPIEXEC_EXECUTABLE)
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _scouter_mpiexec_says
                  ERROR_VARIABLE _scouter_mpiexec_says TIMEOUT 30)
  if(_scouter_mpiexec_says MATCHES "OpenRTE|Open MPI")
    set(_scouter_mpiexec_flavour "Open MPI")
  elseif(_scouter_mpiexec_says MATCHES "HYDRA|MPICH")
    set(_scouter_mpiexec_flavour "MPICH")
  endif()
  if(_scouter_mpiexec_flavour AND SCOUTER_MPI_FLAVOUR MATCHES "Open MPI|MPICH"
     AND NOT _scouter_mpiexec_flavour STREQUAL SCOUTER_MPI_FLAVOUR)
    message(FATAL_ERROR "MPIEXEC_EXECUTABLE ${MPIEXEC_EXECUTABLE} is ${_scouter_mpiexec_flavour}'s "
                        "launcher, but the MPI library is ${SCOUTER_MPI_FLAVOUR}'s "
                        "(${MPI_C_LIBRARIES}): the ranks it starts could not connect. Pass the "
                        "launcher of the same MPI, e.g. -DMPIEXEC_EXECUTABLE=/usr/bin/mpiexec.mpich "
                        "with -DMPI_C_COMPILER=mpicc.mpich (in a new build folder, or remove "
                        "CMakeCache.txt).")
  endif()
endif()
