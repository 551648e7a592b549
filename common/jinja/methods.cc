// The Python str and dict methods chat templates call
// (message.content.strip(), tool.items() …).
#include <set>

#include "absl/strings/str_cat.h"
#include "common/jinja/builtins.h"
#include "common/jinja/text.h"

namespace djinn::jinja {
namespace {

const std::set<absl::string_view>& StringMethods() {
  static const auto* names = new std::set<absl::string_view>{"strip", "lstrip",   "rstrip", "split", "startswith",
                                                            "endswith", "replace", "upper", "lower"};
  return *names;
}

const std::set<absl::string_view>& DictMethods() {
  static const auto* names = new std::set<absl::string_view>{"items", "keys", "values", "get"};
  return *names;
}

absl::Status MethodError(absl::string_view name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name, "(): ", what));
}

// Positional argument `index`, else keyword `key`, else nullopt.
std::optional<Value> Arg(const Args& args, const KwargValues& kwargs, size_t index, absl::string_view key) {
  if (index < args.size()) return args[index];
  for (const auto& [k, v] : kwargs) {
    if (k == key) return v;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> OptionalString(absl::string_view name, const std::optional<Value>& v) {
  if (!v || v->is_none()) return std::optional<std::string>();
  if (!v->is_string()) return MethodError(name, absl::StrCat("expected str, got ", v->TypeName()));
  return std::optional<std::string>(v->as_string());
}

absl::StatusOr<bool> AffixMatch(absl::string_view name, const std::string& text, const Value& affix) {
  auto one = [&](const std::string& a) {
    if (a.size() > text.size()) return false;
    return name == "startswith" ? text.compare(0, a.size(), a) == 0
                                : text.compare(text.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_string()) return one(affix.as_string());
  if (affix.is_list()) {
    for (const Value& a : affix.list()) {
      if (!a.is_string()) return MethodError(name, "tuple items must be str");
      if (one(a.as_string())) return true;
    }
    return false;
  }
  return MethodError(name, absl::StrCat("first arg must be str or a tuple of str, not ", affix.TypeName()));
}

absl::StatusOr<Value> CallStringMethod(const std::string& text, absl::string_view name, const Args& args,
                                       const KwargValues& kwargs) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    absl::StatusOr<std::optional<std::string>> chars = OptionalString(name, Arg(args, kwargs, 0, "chars"));
    if (!chars.ok()) return chars.status();
    return Value::String(PyStrip(text, *chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split") {
    absl::StatusOr<std::optional<std::string>> sep = OptionalString(name, Arg(args, kwargs, 0, "sep"));
    if (!sep.ok()) return sep.status();
    std::optional<Value> maxsplit = Arg(args, kwargs, 1, "maxsplit");
    absl::StatusOr<std::vector<std::string>> parts = PySplit(text, *sep, maxsplit ? maxsplit->as_int() : -1);
    if (!parts.ok()) return parts.status();
    List out;
    for (std::string& p : *parts) out.push_back(Value::String(std::move(p)));
    return Value::MakeList(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    if (args.size() != 1 || !kwargs.empty()) return MethodError(name, "takes exactly one argument here");
    absl::StatusOr<bool> match = AffixMatch(name, text, args[0]);
    if (!match.ok()) return match.status();
    return Value::Bool(*match);
  }
  if (name == "replace") {
    if (args.size() < 2 || !args[0].is_string() || !args[1].is_string()) {
      return MethodError(name, "needs two str arguments");
    }
    std::optional<Value> count = Arg(args, kwargs, 2, "count");
    return Value::String(
        PyReplace(text, args[0].as_string(), args[1].as_string(), count ? count->as_int() : -1));
  }
  if (name == "upper" || name == "lower") {
    absl::StatusOr<std::string> s = name == "upper" ? AsciiUpper(text) : AsciiLower(text);
    if (!s.ok()) return s.status();
    return Value::String(*std::move(s));
  }
  return absl::InvalidArgumentError(absl::StrCat("'str' object has no attribute '", name, "'"));
}

absl::StatusOr<Value> CallDictMethod(const Value& dict, absl::string_view name, const Args& args) {
  if (name == "items" || name == "keys" || name == "values") {
    List out;
    for (const auto& [k, v] : dict.dict()) {
      if (name == "items") {
        out.push_back(Value::MakeList({Value::String(k), v}));
      } else {
        out.push_back(name == "keys" ? Value::String(k) : v);
      }
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "get") {
    if (args.empty() || args.size() > 2) return MethodError(name, "takes one or two arguments");
    const Value* found = args[0].is_string() ? dict.Find(args[0].as_string()) : nullptr;
    if (found != nullptr) return *found;
    return args.size() == 2 ? args[1] : Value::None();
  }
  return absl::InvalidArgumentError(absl::StrCat("'dict' object has no attribute '", name, "'"));
}

}  // namespace

bool IsSupportedMethod(absl::string_view name) {
  return StringMethods().count(name) != 0 || DictMethods().count(name) != 0;
}

absl::StatusOr<Value> CallMethod(const Value& object, absl::string_view name, const Args& args,
                                 const KwargValues& kwargs) {
  if (object.is_string()) return CallStringMethod(object.as_string(), name, args, kwargs);
  if (object.is_dict()) {
    if (!kwargs.empty()) return MethodError(name, "keyword arguments are not supported");
    return CallDictMethod(object, name, args);
  }
  if (object.is_undefined()) {
    return absl::InvalidArgumentError(absl::StrCat("undefined value has no attribute '", name, "'"));
  }
  return absl::InvalidArgumentError(absl::StrCat("'", object.TypeName(), "' object has no attribute '", name, "'"));
}

}  // namespace djinn::jinja
