// Jinja2's builtin filters that chat templates use, with transformers'
// tojson (json.dumps with ensure_ascii=False).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/jinja/builtins.h"
#include "common/jinja/text.h"

namespace djinn::jinja {
namespace {

absl::Status FilterError(absl::string_view name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("filter ", name, ": ", what));
}

// Positional argument `index`, else keyword `key`, else `fallback`.
Value Arg(const Args& args, const KwargValues& kwargs, size_t index, absl::string_view key, Value fallback) {
  if (index < args.size()) return args[index];
  for (const auto& [k, v] : kwargs) {
    if (k == key) return v;
  }
  return fallback;
}

absl::Status CheckArgs(absl::string_view name, const Args& args, const KwargValues& kwargs, size_t max_positional,
                       std::initializer_list<absl::string_view> keys) {
  if (args.size() > max_positional) {
    return FilterError(name, absl::StrCat("takes at most ", max_positional, " arguments, got ", args.size()));
  }
  for (const auto& [k, v] : kwargs) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      return FilterError(name, absl::StrCat("unexpected keyword argument '", k, "'"));
    }
  }
  return absl::OkStatus();
}

// The items a for loop or a filter iterates: list items, str characters,
// dict keys; undefined is empty.
absl::StatusOr<List> Iterate(absl::string_view name, const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return List{};
    case Value::Kind::kList:
      return value.list();
    case Value::Kind::kString: {
      List chars;
      for (char32_t c : DecodeUtf8(value.as_string())) {
        std::string s;
        AppendUtf8(c, &s);
        chars.push_back(Value::String(std::move(s)));
      }
      return chars;
    }
    case Value::Kind::kDict: {
      List keys;
      for (const auto& [k, v] : value.dict()) keys.push_back(Value::String(k));
      return keys;
    }
    default:
      return FilterError(name, absl::StrCat("'", value.TypeName(), "' object is not iterable"));
  }
}

// Jinja2's attribute getter for selectattr/map: "a.b" walks dict items
// and list indices.
Value Attribute(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (current.is_dict()) {
      const Value* found = current.Find(part);
      current = found ? *found : Value();
    } else if (current.is_list()) {
      int64_t index = 0;
      auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
      if (ec == std::errc() && ptr == part.data() + part.size() && index >= 0 &&
          index < static_cast<int64_t>(current.list().size())) {
        current = current.list()[index];
      } else {
        current = Value();
      }
    } else {
      current = Value();
    }
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

absl::StatusOr<size_t> Length(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return DecodeUtf8(value.as_string()).size();
    case Value::Kind::kList:
      return value.list().size();
    case Value::Kind::kDict:
      return value.dict().size();
    default:
      return FilterError("length", absl::StrCat("object of type '", value.TypeName(), "' has no len()"));
  }
}

// select/reject/selectattr/rejectattr.
absl::StatusOr<Value> SelectOrReject(absl::string_view name, const Value& operand, const Args& args,
                                     const KwargValues& kwargs) {
  bool by_attribute = name == "selectattr" || name == "rejectattr";
  bool keep = name == "select" || name == "selectattr";
  if (!kwargs.empty()) return FilterError(name, "keyword arguments are not supported");
  size_t first_test_arg = by_attribute ? 1 : 0;
  std::string attribute;
  if (by_attribute) {
    if (args.empty() || !args[0].is_string()) return FilterError(name, "needs an attribute name");
    attribute = args[0].as_string();
  }
  std::string test;
  Args test_args;
  if (args.size() > first_test_arg) {
    if (!args[first_test_arg].is_string()) return FilterError(name, "the test name must be a string");
    test = args[first_test_arg].as_string();
    if (!IsSupportedTest(test)) return absl::InvalidArgumentError(absl::StrCat("test \"", test, "\" is not supported"));
    test_args.assign(args.begin() + first_test_arg + 1, args.end());
  }
  absl::StatusOr<List> items = Iterate(name, operand);
  if (!items.ok()) return items.status();
  List out;
  for (const Value& item : *items) {
    Value subject = by_attribute ? Attribute(item, attribute) : item;
    bool passed;
    if (test.empty()) {
      passed = subject.Truthy();
    } else {
      absl::StatusOr<bool> result = ApplyTest(test, subject, test_args);
      if (!result.ok()) return result.status();
      passed = *result;
    }
    if (passed == keep) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

absl::StatusOr<Value> Map(const Value& operand, const Args& args, const KwargValues& kwargs) {
  absl::StatusOr<List> items = Iterate("map", operand);
  if (!items.ok()) return items.status();
  List out;
  const Value* attribute = nullptr;
  const Value* fallback = nullptr;
  for (const auto& [k, v] : kwargs) {
    if (k == "attribute") {
      attribute = &v;
    } else if (k == "default") {
      fallback = &v;
    } else {
      return FilterError("map", absl::StrCat("unexpected keyword argument '", k, "'"));
    }
  }
  if (attribute != nullptr) {
    if (!args.empty() || !attribute->is_string()) return FilterError("map", "attribute= takes one name");
    for (const Value& item : *items) {
      Value v = Attribute(item, attribute->as_string());
      out.push_back(v.is_undefined() && fallback ? *fallback : v);
    }
    return Value::MakeList(std::move(out));
  }
  if (args.empty() || !args[0].is_string()) return FilterError("map", "needs a filter name or attribute=");
  std::string filter = args[0].as_string();
  if (!IsSupportedFilter(filter)) return absl::InvalidArgumentError(absl::StrCat("filter \"", filter, "\" is not supported"));
  Args rest(args.begin() + 1, args.end());
  for (const Value& item : *items) {
    absl::StatusOr<Value> v = ApplyFilter(filter, item, rest, {});
    if (!v.ok()) return v.status();
    out.push_back(*std::move(v));
  }
  return Value::MakeList(std::move(out));
}

// `text`, less surrounding white space, read whole as a `Number`; nullopt
// when it is not one, where the int and float filters give their default.
template <typename Number>
std::optional<Number> StrippedNumber(const std::string& text) {
  const std::string s = PyStrip(text, std::nullopt, true, true);
  Number v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return v;
  return std::nullopt;
}

const std::set<absl::string_view>& FilterNames() {
  static const auto* names = new std::set<absl::string_view>{
      "abs",   "capitalize", "count", "d",      "default", "first",      "float",      "int",
      "items", "join",       "last",  "length", "list",    "lower",      "map",        "reject",
      "rejectattr", "replace", "reverse", "safe", "select", "selectattr", "string", "tojson",
      "trim",  "upper"};
  return *names;
}

}  // namespace

bool IsSupportedFilter(absl::string_view name) { return FilterNames().count(name) != 0; }

absl::StatusOr<Value> ApplyFilter(absl::string_view name, const Value& operand, const Args& args,
                                  const KwargValues& kwargs) {
  if (name == "trim") {
    if (absl::Status s = CheckArgs(name, args, kwargs, 1, {"chars"}); !s.ok()) return s;
    Value chars = Arg(args, kwargs, 0, "chars", Value::None());
    std::optional<std::string> set;
    if (chars.is_string()) set = chars.as_string();
    return Value::String(PyStrip(operand.Str(), set, true, true));
  }
  if (name == "length" || name == "count") {
    absl::StatusOr<size_t> n = Length(operand);
    if (!n.ok()) return n.status();
    return Value::Int(static_cast<int64_t>(*n));
  }
  if (name == "tojson") {
    if (absl::Status s = CheckArgs(name, args, kwargs, 1, {"indent", "sort_keys"}); !s.ok()) return s;
    Value indent = Arg(args, kwargs, 0, "indent", Value::None());
    if (!indent.is_none() && indent.kind() != Value::Kind::kInt) return FilterError(name, "indent must be an int");
    Value sort_keys = Arg(args, kwargs, 99, "sort_keys", Value::Bool(false));
    absl::StatusOr<std::string> json =
        ToJson(operand, indent.is_none() ? -1 : static_cast<int>(indent.as_int()), sort_keys.Truthy());
    if (!json.ok()) return json.status();
    return Value::String(*std::move(json));
  }
  if (name == "string") return Value::String(operand.Str());
  if (name == "safe") return operand;
  if (name == "upper" || name == "lower") {
    absl::StatusOr<std::string> s = name == "upper" ? AsciiUpper(operand.Str()) : AsciiLower(operand.Str());
    if (!s.ok()) return s.status();
    return Value::String(*std::move(s));
  }
  if (name == "capitalize") {
    absl::StatusOr<std::string> lower = AsciiLower(operand.Str());
    if (!lower.ok()) return lower.status();
    std::string s = *std::move(lower);
    if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return Value::String(std::move(s));
  }
  if (name == "default" || name == "d") {
    if (absl::Status s = CheckArgs(name, args, kwargs, 2, {"default_value", "boolean"}); !s.ok()) return s;
    Value fallback = Arg(args, kwargs, 0, "default_value", Value::String(""));
    bool boolean = Arg(args, kwargs, 1, "boolean", Value::Bool(false)).Truthy();
    if (operand.is_undefined() || (boolean && !operand.Truthy())) return fallback;
    return operand;
  }
  if (name == "items") {
    if (operand.is_undefined()) return Value::MakeList({});
    if (!operand.is_dict()) return FilterError(name, "can only get item pairs from a mapping");
    List pairs;
    for (const auto& [k, v] : operand.dict()) pairs.push_back(Value::MakeList({Value::String(k), v}));
    return Value::MakeList(std::move(pairs));
  }
  if (name == "join") {
    if (absl::Status s = CheckArgs(name, args, kwargs, 2, {"d", "attribute"}); !s.ok()) return s;
    Value separator = Arg(args, kwargs, 0, "d", Value::String(""));
    Value attribute = Arg(args, kwargs, 1, "attribute", Value::None());
    absl::StatusOr<List> items = Iterate(name, operand);
    if (!items.ok()) return items.status();
    std::vector<std::string> parts;
    for (const Value& item : *items) {
      parts.push_back(attribute.is_string() ? Attribute(item, attribute.as_string()).Str() : item.Str());
    }
    return Value::String(absl::StrJoin(parts, separator.Str()));
  }
  if (name == "list") {
    absl::StatusOr<List> items = Iterate(name, operand);
    if (!items.ok()) return items.status();
    return Value::MakeList(*std::move(items));
  }
  if (name == "first" || name == "last") {
    absl::StatusOr<List> items = Iterate(name, operand);
    if (!items.ok()) return items.status();
    if (items->empty()) return Value();
    return name == "first" ? items->front() : items->back();
  }
  if (name == "reverse") {
    if (operand.is_string()) {
      std::vector<char32_t> cps = DecodeUtf8(operand.as_string());
      std::reverse(cps.begin(), cps.end());
      return Value::String(EncodeUtf8(cps));
    }
    absl::StatusOr<List> items = Iterate(name, operand);
    if (!items.ok()) return items.status();
    std::reverse(items->begin(), items->end());
    return Value::MakeList(*std::move(items));
  }
  if (name == "replace") {
    if (absl::Status s = CheckArgs(name, args, kwargs, 3, {"count"}); !s.ok()) return s;
    if (args.size() < 2) return FilterError(name, "needs old and new");
    Value count = Arg(args, kwargs, 2, "count", Value::None());
    return Value::String(PyReplace(operand.Str(), args[0].Str(), args[1].Str(), count.is_none() ? -1 : count.as_int()));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    return SelectOrReject(name, operand, args, kwargs);
  }
  if (name == "map") return Map(operand, args, kwargs);
  if (name == "int") {
    Value fallback = Arg(args, kwargs, 0, "default", Value::Int(0));
    if (operand.kind() == Value::Kind::kFloat) return Value::Int(static_cast<int64_t>(std::trunc(operand.as_float())));
    if (operand.is_number()) return Value::Int(operand.as_int());
    if (operand.is_string()) {
      if (std::optional<int64_t> v = StrippedNumber<int64_t>(operand.as_string())) return Value::Int(*v);
    }
    return fallback;
  }
  if (name == "float") {
    Value fallback = Arg(args, kwargs, 0, "default", Value::Float(0));
    if (operand.is_number()) return Value::Float(operand.as_float());
    if (operand.is_string()) {
      if (std::optional<double> v = StrippedNumber<double>(operand.as_string())) return Value::Float(*v);
    }
    return fallback;
  }
  if (name == "abs") {
    if (operand.kind() == Value::Kind::kFloat) return Value::Float(std::fabs(operand.as_float()));
    if (operand.is_number()) return Value::Int(std::llabs(operand.as_int()));
    return FilterError(name, absl::StrCat("bad operand type for abs(): '", operand.TypeName(), "'"));
  }
  return absl::InvalidArgumentError(absl::StrCat("filter \"", name, "\" is not supported"));
}

}  // namespace djinn::jinja
