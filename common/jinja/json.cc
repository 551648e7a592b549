// The tojson filter as transformers defines it for chat templates:
// json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=sort_keys), so
// separators are ", " / ": " without indent and "," / ": " with it, and
// non-ASCII text is written as it is.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/jinja/builtins.h"

namespace djinn::jinja {
namespace {

void AppendJsonString(const std::string& s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      default:
        if (c < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "\\u%04x", c);
          *out += hex;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

absl::Status Dump(const Value& v, int indent, bool sort_keys, int depth, std::string* out) {
  auto newline = [&](int level) {
    out->push_back('\n');
    out->append(static_cast<size_t>(indent) * level, ' ');
  };
  const char* item_separator = indent >= 0 ? "," : ", ";
  switch (v.kind()) {
    case Value::Kind::kNone:
      *out += "null";
      return absl::OkStatus();
    case Value::Kind::kBool:
      *out += v.as_bool() ? "true" : "false";
      return absl::OkStatus();
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
      // Python's json writes floats with repr() (NaN/Infinity aside).
      *out += v.Str();
      return absl::OkStatus();
    case Value::Kind::kString:
      AppendJsonString(v.as_string(), out);
      return absl::OkStatus();
    case Value::Kind::kList: {
      const List& items = v.list();
      if (items.empty()) {
        *out += "[]";
        return absl::OkStatus();
      }
      out->push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) *out += item_separator;
        if (indent >= 0) newline(depth + 1);
        if (absl::Status s = Dump(items[i], indent, sort_keys, depth + 1, out); !s.ok()) return s;
      }
      if (indent >= 0) newline(depth);
      out->push_back(']');
      return absl::OkStatus();
    }
    case Value::Kind::kDict: {
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& entry : v.dict()) entries.push_back(&entry);
      if (sort_keys) {
        std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
      }
      if (entries.empty()) {
        *out += "{}";
        return absl::OkStatus();
      }
      out->push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) *out += item_separator;
        if (indent >= 0) newline(depth + 1);
        AppendJsonString(entries[i]->first, out);
        *out += ": ";
        if (absl::Status s = Dump(entries[i]->second, indent, sort_keys, depth + 1, out); !s.ok()) return s;
      }
      if (indent >= 0) newline(depth);
      out->push_back('}');
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("tojson: Object of type ", v.TypeName(), " is not JSON serializable"));
  }
}

}  // namespace

absl::StatusOr<std::string> ToJson(const Value& value, int indent, bool sort_keys) {
  std::string out;
  if (absl::Status s = Dump(value, indent, sort_keys, 0, &out); !s.ok()) return s;
  return out;
}

}  // namespace djinn::jinja
