# Exporter plugins.
#
# Each exporter folder calls gw_add_exporter(NAME SOURCES ...). That builds the
# folder as an OBJECT library (object files are linked directly, so the linker
# can never drop an exporter that nothing references) and records NAME. After
# all folders are added, gw_generate_exporter_list() writes
# builtin_exporters.cc, which calls gw_register_exporter_<NAME>() for every
# recorded exporter. Registration therefore needs no central list in the
# source tree and does not depend on static-initialisation order: main() calls
# gw::registerBuiltinExporters() explicitly.
function(gw_add_exporter name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  set(target gw_exporter_${name})
  add_library(${target} OBJECT ${ARG_SOURCES})
  target_link_libraries(${target} PUBLIC gw_telemetry ${ARG_LIBS})
  gw_layer(${target} exporters)
  gw_warnings(${target})
  set_property(GLOBAL APPEND PROPERTY GW_EXPORTERS ${name})
endfunction()

function(gw_generate_exporter_list out_file)
  get_property(names GLOBAL PROPERTY GW_EXPORTERS)
  gw_generate_registrations(${out_file} exporter "${names}" gw/exporter_registry.h ExporterRegistry registerBuiltinExporters)
endfunction()
