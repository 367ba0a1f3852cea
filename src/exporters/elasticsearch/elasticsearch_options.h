// Settings of the elasticsearch exporter (docs/exporters.md), read once at start-up.
#pragma once

#include "gw/setting_table.h"
#include "gw/error.h"

#include <chrono>
#include <span>
#include <string>

namespace gw::exporters::elasticsearch {

struct Options {
  std::string url = "http://localhost:9200";  // ELASTICSEARCH_URL
  std::string index = "noveum-metrics";       // ELASTICSEARCH_INDEX
  bool index_date_suffix = false;             // ELASTICSEARCH_INDEX_DATE_SUFFIX: index-YYYY.MM.DD
  std::string username;                       // ELASTICSEARCH_USERNAME
  std::string password;                       // ELASTICSEARCH_PASSWORD
  std::string api_key;                        // ELASTICSEARCH_API_KEY (base64 "id:key", as Kibana shows it)
  std::string ca_file;                        // ELASTICSEARCH_CA_FILE: PEM CA bundle for https
  bool install_template = true;               // ELASTICSEARCH_INSTALL_TEMPLATE
  std::chrono::milliseconds timeout{10000};   // ELASTICSEARCH_TIMEOUT_MS

  static Result<Options> fromConfig(const ConfigSource& config);
  // The variables fromConfig() reads, for --help (registered with the factory).
  static std::span<const SettingDoc> settings();
};

// Elasticsearch's index-name rules: lower case, no \ / * ? " < > | space , # :
// not starting with - _ +, not . or .., at most 255 bytes.
bool isValidIndexName(const std::string& name);

}  // namespace gw::exporters::elasticsearch
