# The source layers, lowest first. Code of one layer includes only its own
# layer and the layers below it; the build enforces it.
#
# Every header is included by its path under src/ ("telemetry/spool.h").
# Instead of src/ itself, a library of layer L gets as include root a
# directory of the build tree holding links to src/<layer> for L and the
# layers below it only (its "scope"): an include of a higher layer does not
# compile. The public plugin API, include/gw/, is on every path.
#
# Finer rules (a provider or exporter folder includes no other folder's
# headers; include/gw includes only itself) are checked by
# scripts/check_layers.py, which also runs as the CTest test layer_check.
set(GW_LAYERS common config upstream state providers telemetry routing keys dashboard exporters server app)
set(GW_LAYER_SCOPES_DIR ${CMAKE_BINARY_DIR}/layer_scopes)

set(visible "")
foreach(layer IN LISTS GW_LAYERS)
  list(APPEND visible ${layer})
  file(MAKE_DIRECTORY ${GW_LAYER_SCOPES_DIR}/${layer})
  foreach(dir IN LISTS visible)
    if(NOT EXISTS ${GW_LAYER_SCOPES_DIR}/${layer}/${dir})
      file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${dir} ${GW_LAYER_SCOPES_DIR}/${layer}/${dir} SYMBOLIC)
    endif()
  endforeach()
endforeach()

# gw_layer(TARGET LAYER): TARGET's sources belong to LAYER; TARGET and
# what links it see LAYER's scope.
function(gw_layer target layer)
  if(NOT layer IN_LIST GW_LAYERS)
    message(FATAL_ERROR "gw_layer(${target}): unknown layer '${layer}' (layers: ${GW_LAYERS})")
  endif()
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/include ${GW_LAYER_SCOPES_DIR}/${layer})
endfunction()
