// gw::TelemetryRecord (include/gw/exporter.h): the lazily parsed tree.
#include "gw/exporter.h"
#include "telemetry/record_json.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <mutex>

namespace gw {
namespace json = boost::json;
namespace {

// The tree of a record lives in one arena: parsing is a pointer bump per
// node instead of a malloc, and since the arena frees nothing one node at a
// time (is_deallocate_trivial below) and is not reference-counted (the
// record owns it), Boost.JSON neither counts references per node nor walks
// the tree to destroy it. Once parsed the tree is read-only, but an
// exporter that copy-constructs a subtree still allocates here (Boost.JSON
// copies into the source's storage), from its own thread and possibly at
// the same time as another exporter: hence the lock, which parsing itself
// (inside call_once, before anyone else sees the tree) does not take.
class RecordArena final : public json::memory_resource {
 public:
  void seal() { sealed_ = true; }

 private:
  void* do_allocate(std::size_t n, std::size_t align) override {
    if (!sealed_) return arena_.allocate(n, align);
    std::lock_guard lock(mutex_);
    return arena_.allocate(n, align);
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const memory_resource& other) const noexcept override { return this == &other; }

  bool sealed_ = false;  // written inside call_once, which orders it before every other reader
  std::mutex mutex_;
  json::monotonic_resource arena_{4096};
};

}  // namespace
}  // namespace gw

template <>
struct boost::json::is_deallocate_trivial<gw::RecordArena> : std::true_type {};

namespace gw {

struct TelemetryRecord::ParsedTree {
  RecordArena arena;  // declared first: outlives the tree
  std::optional<json::object> object;
};

TelemetryRecord::TelemetryRecord(std::string id_, std::string serialized_, RecordFields fields_)
    : id(std::move(id_)), serialized(std::move(serialized_)), fields(std::move(fields_)) {}

TelemetryRecord::~TelemetryRecord() = default;

const json::object& TelemetryRecord::json() const {
  std::call_once(parse_once_, [this] {
    auto tree = std::make_unique<ParsedTree>();
    json::storage_ptr sp(&tree->arena);
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = kMaxRecordDepth;
    json::value v = json::parse(json::string_view(serialized.data(), serialized.size()), ec, sp, options);
    if (!ec && v.is_object()) tree->object.emplace(std::move(v.as_object()));
    else tree->object.emplace(sp);
    tree->arena.seal();
    tree_ = std::move(tree);
  });
  return *tree_->object;
}

}  // namespace gw
