// Jinja2's builtin tests (`x is defined` …) and the global functions chat
// templates call.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/jinja/builtins.h"
#include "common/jinja/text.h"

namespace djinn::jinja {
namespace {

const std::set<absl::string_view>& TestNames() {
  static const auto* names = new std::set<absl::string_view>{
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "even", "false", "float",    "ge",   "gt",
      "in",      "integer", "iterable",    "le", "lower",   "lt",   "mapping", "ne",     "none", "number",
      "odd",     "sequence", "string",     "true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">="};
  return *names;
}

absl::Status TestError(absl::string_view name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("test ", name, ": ", what));
}

bool Contains(const Value& container, const Value& item, bool* ok) {
  *ok = true;
  if (container.is_string() && item.is_string()) {
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_list()) {
    for (const Value& v : container.list()) {
      if (Equal(v, item)) return true;
    }
    return false;
  }
  if (container.is_dict()) return item.is_string() && container.Find(item.as_string()) != nullptr;
  if (container.is_undefined()) return false;
  *ok = false;
  return false;
}

}  // namespace

bool IsSupportedTest(absl::string_view name) { return TestNames().count(name) != 0; }

absl::StatusOr<bool> ApplyTest(absl::string_view name, const Value& v, const Args& args) {
  using K = Value::Kind;
  auto need = [&](size_t n) -> absl::Status {
    if (args.size() != n) return TestError(name, absl::StrCat("takes ", n, " argument(s), got ", args.size()));
    return absl::OkStatus();
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "callable") return v.kind() == K::kFunction;
  if (name == "boolean") return v.kind() == K::kBool;
  if (name == "true") return v.kind() == K::kBool && v.as_bool();
  if (name == "false") return v.kind() == K::kBool && !v.as_bool();
  if (name == "integer") return v.kind() == K::kInt;
  if (name == "float") return v.kind() == K::kFloat;
  if (name == "number") return v.is_number();  // Python: bool is a Number
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  // Python's iter() works on str, list, dict and Jinja2's Undefined.
  if (name == "iterable") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    // Python's islower/isupper: at least one cased character, none of the other case.
    bool cased = false;
    for (char c : v.as_string()) {
      bool lower = c >= 'a' && c <= 'z';
      bool upper = c >= 'A' && c <= 'Z';
      if (static_cast<unsigned char>(c) >= 0x80) {
        return TestError(name, "non-ASCII text is not supported (Unicode case)");
      }
      if ((name == "lower" && upper) || (name == "upper" && lower)) return false;
      cased = cased || lower || upper;
    }
    return cased;
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (v.kind() != K::kInt && v.kind() != K::kBool) return TestError(name, "needs an integer");
    int64_t n = v.as_int();
    if (name == "odd") return n % 2 != 0;
    if (name == "even") return n % 2 == 0;
    if (absl::Status s = need(1); !s.ok()) return s;
    if (!args[0].is_number() || args[0].as_int() == 0) return TestError(name, "needs a non-zero integer");
    return n % args[0].as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") {
    if (absl::Status s = need(1); !s.ok()) return s;
    return Equal(v, args[0]);
  }
  if (name == "ne" || name == "!=") {
    if (absl::Status s = need(1); !s.ok()) return s;
    return !Equal(v, args[0]);
  }
  if (name == "lt" || name == "<" || name == "gt" || name == ">" || name == "le" || name == "<=" || name == "ge" ||
      name == ">=") {
    if (absl::Status s = need(1); !s.ok()) return s;
    bool swap = name == "gt" || name == ">" || name == "le" || name == "<=";
    absl::StatusOr<bool> less = swap ? Less(args[0], v) : Less(v, args[0]);
    if (!less.ok()) return less.status();
    bool negate = name == "le" || name == "<=" || name == "ge" || name == ">=";
    return negate ? !*less : *less;
  }
  if (name == "in") {
    if (absl::Status s = need(1); !s.ok()) return s;
    bool ok = true;
    bool found = Contains(args[0], v, &ok);
    if (!ok) return TestError(name, absl::StrCat("argument of type '", args[0].TypeName(), "' is not iterable"));
    return found;
  }
  return absl::InvalidArgumentError(absl::StrCat("test \"", name, "\" is not supported"));
}

bool IsSupportedFunction(absl::string_view name) {
  return name == "raise_exception" || name == "strftime_now" || name == "namespace" || name == "range";
}

absl::StatusOr<std::string> Strftime(absl::string_view format, absl::CivilSecond t) {
  static constexpr const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                            "July",    "August",   "September", "October", "November", "December"};
  static constexpr const char* kDays[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday"};
  auto pad = [](int64_t v, int width, char fill = '0') {
    std::string s = absl::StrCat(v);
    while (static_cast<int>(s.size()) < width) s.insert(s.begin(), fill);
    return s;
  };
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (i + 1 >= format.size()) return absl::InvalidArgumentError("strftime_now: format ends with '%'");
    char d = format[++i];
    const int weekday = static_cast<int>(absl::GetWeekday(absl::CivilDay(t)));  // Monday = 0
    const int hour12 = t.hour() % 12 == 0 ? 12 : t.hour() % 12;
    switch (d) {
      case 'Y': out += absl::StrCat(t.year()); break;
      case 'y': out += pad(t.year() % 100, 2); break;
      case 'm': out += pad(t.month(), 2); break;
      case 'd': out += pad(t.day(), 2); break;
      case 'e': out += pad(t.day(), 2, ' '); break;
      case 'H': out += pad(t.hour(), 2); break;
      case 'I': out += pad(hour12, 2); break;
      case 'M': out += pad(t.minute(), 2); break;
      case 'S': out += pad(t.second(), 2); break;
      case 'p': out += t.hour() < 12 ? "AM" : "PM"; break;
      case 'j': out += pad(absl::GetYearDay(absl::CivilDay(t)), 3); break;
      case 'B': out += kMonths[t.month() - 1]; break;
      case 'b': out += std::string(kMonths[t.month() - 1]).substr(0, 3); break;
      case 'A': out += kDays[weekday]; break;
      case 'a': out += std::string(kDays[weekday]).substr(0, 3); break;
      case '%': out += '%'; break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("strftime_now: directive %", std::string(1, d), " is not supported"));
    }
  }
  return out;
}

}  // namespace djinn::jinja
