#include "illume/report/analysis_report.h"

#include <cmath>
#include <string>

#include "illume/report/page_assets.h"
#include "illume/util/error.h"
#include "illume/util/file.h"

namespace illume {
namespace {

using Json = nlohmann::json;
constexpr const char* kSource = "analysis report data";

using report_detail::round_significant;

void round_numbers(Json& value, int digits) {
  if (value.is_number_float()) {
    double v = value.get<double>();
    value = std::isfinite(v) ? Json(round_significant(v, digits)) : Json(nullptr);
  } else if (value.is_array() || value.is_object()) {
    for (auto& item : value) round_numbers(item, digits);
  }
}

const Json* find(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

void check_numbers(const Json& array, std::size_t index, const char* key) {
  for (const auto& v : array)
    check(v.is_number() || v.is_null(), "{}: responses[{}].{} must hold numbers (found {})", kSource, index,
          key, v.type_name());
}

void check_per_token(const Json& response, std::size_t index, const char* key, std::size_t tokens) {
  const Json* values = find(response, key);
  if (values == nullptr) return;
  check(values->is_array(), "{}: responses[{}].{} must be an array", kSource, index, key);
  check(values->size() == tokens, "{}: responses[{}].{} has {} values for {} tokens", kSource, index, key,
        values->size(), tokens);
  check_numbers(*values, index, key);
}

void check_indices(const Json& response, std::size_t index, const char* key, std::size_t tokens) {
  const Json* values = find(response, key);
  if (values == nullptr) return;
  check(values->is_array(), "{}: responses[{}].{} must be an array of token indices", kSource, index, key);
  for (const auto& v : *values) {
    check(v.is_number_integer(), "{}: responses[{}].{} must hold integer token indices", kSource, index, key);
    auto i = v.get<long long>();
    check(i >= 0 && static_cast<std::size_t>(i) < tokens, "{}: responses[{}].{}: index {} outside 0..{}", kSource,
          index, key, i, tokens == 0 ? 0 : tokens - 1);
  }
}

void check_heads(const Json& response, std::size_t index) {
  std::size_t layers = 0;
  if (const Json* spans = find(response, "head_span")) {
    check(spans->is_array(), "{}: responses[{}].head_span must be an array of per-layer arrays", kSource, index);
    for (const auto& row : *spans) {
      check(row.is_array(), "{}: responses[{}].head_span must be an array of per-layer arrays", kSource, index);
      check_numbers(row, index, "head_span");
    }
    layers = spans->size();
    if (const Json* ids = find(response, "layers")) {
      check(ids->is_array() && ids->size() == layers, "{}: responses[{}].layers must list {} layers (one per head_span row)",
            kSource, index, layers);
      for (const auto& v : *ids)
        check(v.is_number_integer(), "{}: responses[{}].layers must hold integers", kSource, index);
    }
  }
  for (const char* key : {"local_heads", "global_heads"}) {
    const Json* pairs = find(response, key);
    if (pairs == nullptr) continue;
    check(pairs->is_array(), "{}: responses[{}].{} must be an array of [layer, head]", kSource, index, key);
    for (const auto& p : *pairs)
      check(p.is_array() && p.size() == 2 && p[0].is_number_integer() && p[1].is_number_integer(),
            "{}: responses[{}].{} must be an array of [layer, head]", kSource, index, key);
  }
}

// A size x size array of numbers.
void check_square(const Json& m, std::size_t n, std::size_t index, const char* key, const char* size_key) {
  bool square = m.is_array() && m.size() == n;
  if (square)
    for (const auto& row : m) square = square && row.is_array() && row.size() == n;
  check(square, "{}: responses[{}].maps.{} must be {} x {} ({})", kSource, index, key, n, n, size_key);
  for (const auto& row : m) check_numbers(row, index, "maps");
}

void check_maps(const Json& response, std::size_t index, std::size_t tokens) {
  const Json* maps = find(response, "maps");
  if (maps == nullptr) return;
  check(maps->is_object(), "{}: responses[{}].maps must be an object", kSource, index);
  const Json* size = find(*maps, "size");
  check(size != nullptr && size->is_number_integer() && size->get<long long>() > 0 && size->get<long long>() <= 1024,
        "{}: responses[{}].maps.size must be an integer in 1..1024", kSource, index);
  auto n = size->get<std::size_t>();
  const Json* begin = find(*maps, "window_begin");
  check(begin != nullptr && begin->is_number_integer() && begin->get<long long>() >= 0,
        "{}: responses[{}].maps.window_begin must be a non-negative integer", kSource, index);
  if (const Json* w = find(*maps, "window_size"))
    check(w->is_number_integer() && w->get<long long>() > 0, "{}: responses[{}].maps.window_size must be a positive integer",
          kSource, index);
  for (const char* key : {"local", "global", "receiver"}) {
    const Json* m = find(*maps, key);
    if (m == nullptr) continue;
    check_square(*m, n, index, key, "maps.size");
  }
  if (const Json* heads = find(*maps, "heads")) {
    check(heads->is_object(), "{}: responses[{}].maps.heads must be an object", kSource, index);
    const Json* hsize = find(*heads, "size");
    check(hsize != nullptr && hsize->is_number_integer() && hsize->get<long long>() > 0 && hsize->get<long long>() <= 1024,
          "{}: responses[{}].maps.heads.size must be an integer in 1..1024", kSource, index);
    const Json* ids = find(*heads, "ids");
    const Json* list = find(*heads, "maps");
    check(ids != nullptr && ids->is_array() && list != nullptr && list->is_array() && ids->size() == list->size(),
          "{}: responses[{}].maps.heads needs 'ids' and 'maps' arrays of one length", kSource, index);
    for (const auto& p : *ids)
      check(p.is_array() && p.size() == 2 && p[0].is_number_integer() && p[1].is_number_integer(),
            "{}: responses[{}].maps.heads.ids must be an array of [layer, head]", kSource, index);
    for (const auto& m : *list) check_square(m, hsize->get<std::size_t>(), index, "heads.maps[]", "maps.heads.size");
  }
  (void)tokens;
}

Json prepared(const Json& data) {
  check(data.is_object(), "{}: expected a JSON object", kSource);
  Json out = data;
  auto it = out.find("responses");
  check(it != out.end() && it->is_array(), "{}: missing key 'responses' (an array)", kSource);
  for (std::size_t i = 0; i < it->size(); ++i) {
    Json& response = (*it)[i];
    check(response.is_object(), "{}: responses[{}] must be an object", kSource, i);
    const Json* tokens = find(response, "tokens");
    check(tokens != nullptr && tokens->is_array(), "{}: responses[{}]: missing key 'tokens' (an array of strings)",
          kSource, i);
    for (const auto& t : *tokens) check(t.is_string(), "{}: responses[{}].tokens must hold strings", kSource, i);
    std::size_t n = tokens->size();
    for (const char* key : {"waad", "fai", "delta", "entropy"}) check_per_token(response, i, key, n);
    check_indices(response, i, "preplan", n);
    check_indices(response, i, "anchor", n);
    check_heads(response, i);
    check_maps(response, i, n);
    for (auto& [key, value] : response.items()) round_numbers(value, key == "maps" ? 4 : 5);
  }
  return out;
}

}  // namespace

std::string render_analysis_report(const Json& data) {
  return report_detail::render_page("analysis_report.html", prepared(data));
}

void write_analysis_report(const std::filesystem::path& out_html, const Json& data) {
  write_file_atomic(out_html, render_analysis_report(data));  // creates the parent folder
}

}  // namespace illume
