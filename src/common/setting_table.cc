#include "gw/setting_table.h"

namespace gw {

void appendSettingsHelp(std::string& out, std::span<const SettingDoc> settings) {
  // Descriptions start in one column; a longer name is followed by two
  // spaces, so that two spaces always end the name (tests parse the lines).
  constexpr std::size_t kColumn = 30;
  if (settings.empty()) {
    out += "  (no settings)\n";
    return;
  }
  for (const auto& s : settings) {
    out += "  ";
    out += s.name;
    out.append(s.name.size() + 2 <= kColumn ? kColumn - s.name.size() : 2, ' ');
    out += s.description;
    if (!s.default_text.empty()) {
      out += " (default: ";
      out += s.default_text;
      out += ')';
    }
    out += '\n';
  }
}

}  // namespace gw
