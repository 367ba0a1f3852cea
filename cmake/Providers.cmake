# Provider plugins.
#
# Each provider folder calls gw_add_provider(FOLDER SOURCES ... [LIBS ...]).
# That builds the folder as an OBJECT library gw_provider_FOLDER (object
# files are linked directly, so the linker can never drop a provider that
# nothing references) and records FOLDER. After all folders are added,
# gw_generate_provider_list() writes builtin_providers.cc, which calls
# gw_register_provider_FOLDER() (defined by GW_REGISTER_PROVIDER in the
# folder, include/gw/provider_plugin.h) for every recorded folder. A folder
# may register several provider names. Registration therefore needs no
# central list in the source tree and does not depend on
# static-initialisation order: main() calls gw::registerBuiltinProviders()
# explicitly.
function(gw_add_provider folder)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  set(target gw_provider_${folder})
  add_library(${target} OBJECT ${ARG_SOURCES})
  target_link_libraries(${target} PUBLIC gw_provider_registry gw_provider_common ${ARG_LIBS})
  gw_layer(${target} providers)
  gw_warnings(${target})
  set_property(GLOBAL APPEND PROPERTY GW_PROVIDER_FOLDERS ${folder})
endfunction()

function(gw_generate_provider_list out_file)
  get_property(folders GLOBAL PROPERTY GW_PROVIDER_FOLDERS)
  gw_generate_registrations(${out_file} provider "${folders}" providers/provider_registry.h ProviderRegistry registerBuiltinProviders)
endfunction()
