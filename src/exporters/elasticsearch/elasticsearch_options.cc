#include "exporters/elasticsearch/elasticsearch_options.h"

#include "exporters/common/http_client.h"
#include "gw/setting_table.h"

#include <fstream>

namespace gw::exporters::elasticsearch {

bool isValidIndexName(const std::string& name) {
  if (name.empty() || name.size() > 200 || name == "." || name == "..") return false;
  if (name[0] == '-' || name[0] == '_' || name[0] == '+') return false;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') return false;
    if (std::string_view("\\/*?\"<>| ,#:").find(c) != std::string_view::npos) return false;
    if (static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

namespace {
constexpr SettingDoc kSettings[] = {
    // Read by ExporterRegistry::create: an exporter's ENABLE_<NAME> switch.
    {"ENABLE_ELASTICSEARCH", "false", "true adds elasticsearch to ENABLED_EXPORTERS"},
    {"ELASTICSEARCH_URL", "http://localhost:9200", "cluster URL (http or https)"},
    {"ELASTICSEARCH_INDEX", "noveum-metrics", "index name"},
    {"ELASTICSEARCH_INDEX_DATE_SUFFIX", "false", "write to {index}-YYYY.MM.DD (the record's date)"},
    {"ELASTICSEARCH_USERNAME", "", "basic authentication, with ELASTICSEARCH_PASSWORD"},
    {"ELASTICSEARCH_PASSWORD", "", "basic authentication, with ELASTICSEARCH_USERNAME"},
    {"ELASTICSEARCH_API_KEY", "", "Authorization: ApiKey (base64 id:key); not with a username"},
    {"ELASTICSEARCH_CA_FILE", "system store", "PEM CA bundle for https"},
    {"ELASTICSEARCH_INSTALL_TEMPLATE", "true", "install the index template"},
    {"ELASTICSEARCH_TIMEOUT_MS", "10000", "per request"},
};
}  // namespace

std::span<const SettingDoc> Options::settings() { return kSettings; }

Result<Options> Options::fromConfig(const ConfigSource& source) {
  const DeclaredSettings<kSettings> config(source);
  Options o;
  o.url = config.getString("ELASTICSEARCH_URL", o.url);
  if (auto v = http::validateUrl(o.url); !v) return configError("ELASTICSEARCH_URL", v.error());
  o.index = config.getString("ELASTICSEARCH_INDEX", o.index);
  if (!isValidIndexName(o.index))
    return configError("ELASTICSEARCH_INDEX",
                       "'" + o.index + "' is not a valid index name (lower case, no spaces or \\/*?\"<>|,#:)");
  auto suffix = config.getBool("ELASTICSEARCH_INDEX_DATE_SUFFIX", false);
  if (!suffix) return suffix.error();
  o.index_date_suffix = *suffix;
  o.username = config.getString("ELASTICSEARCH_USERNAME", "");
  o.password = config.getString("ELASTICSEARCH_PASSWORD", "");
  o.api_key = config.getString("ELASTICSEARCH_API_KEY", "");
  if (o.username.empty() != o.password.empty())
    return configError(o.username.empty() ? "ELASTICSEARCH_USERNAME" : "ELASTICSEARCH_PASSWORD",
                       "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD must be set together");
  if (!o.api_key.empty() && !o.username.empty())
    return configError("ELASTICSEARCH_API_KEY", "set either an API key or a username and password, not both");
  o.ca_file = config.getString("ELASTICSEARCH_CA_FILE", "");
  if (!o.ca_file.empty() && !std::ifstream(o.ca_file).good())
    return configError("ELASTICSEARCH_CA_FILE", "cannot read " + o.ca_file);
  auto install = config.getBool("ELASTICSEARCH_INSTALL_TEMPLATE", true);
  if (!install) return install.error();
  o.install_template = *install;
  auto timeout = config.getInt("ELASTICSEARCH_TIMEOUT_MS", 10000, 100, 600000);
  if (!timeout) return timeout.error();
  o.timeout = std::chrono::milliseconds(*timeout);
  return o;
}

}  // namespace gw::exporters::elasticsearch
