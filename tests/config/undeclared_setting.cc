// Compiled twice by tests/config/CMakeLists.txt: as is, inside config_test,
// it must compile (a declared variable); with GW_READ_UNDECLARED, by the
// config_undeclared_setting_does_not_compile test, it must not, and the
// compiler's error must name setting_is_not_declared_in_the_components_table:
// a component cannot read a variable its settings table does not list.
#include "gw/setting_table.h"

#include <string>

namespace gw {
namespace {
constexpr SettingDoc kTable[] = {{"DECLARED_VARIABLE", "", "the only variable this table lists"}};
}  // namespace

std::string readForTheCompileTest(const ConfigSource& source) {
  const DeclaredSettings<kTable> config(source);
#ifdef GW_READ_UNDECLARED
  return config.getString("UNDECLARED_VARIABLE", "");
#else
  return config.getString("DECLARED_VARIABLE", "");
#endif
}

}  // namespace gw
