// The filters, tests, methods and global functions Djinn's Jinja subset
// implements, with Jinja2's (and transformers') semantics. The parser asks
// IsSupported* so that a template using anything else is refused when it is
// parsed, naming what it used; the interpreter calls Apply*/Call*.
#ifndef DJINN_COMMON_JINJA_BUILTINS_H_
#define DJINN_COMMON_JINJA_BUILTINS_H_

#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "common/jinja/value.h"

namespace djinn::jinja {

using Args = std::vector<Value>;
using KwargValues = std::vector<std::pair<std::string, Value>>;

// Filters: abs, capitalize, count, d/default, first, float, int, items,
// join, last, length, list, lower, map, reject, rejectattr, replace, reverse,
// safe, select, selectattr, string, tojson, trim, upper. upper/lower/
// capitalize refuse non-ASCII text rather than get Unicode case mapping wrong.
bool IsSupportedFilter(absl::string_view name);
absl::StatusOr<Value> ApplyFilter(absl::string_view name, const Value& operand, const Args& args,
                                  const KwargValues& kwargs);

// Tests: defined, undefined, none, string, number, integer, float, boolean,
// true, false, callable, mapping, iterable, sequence, equalto/eq/==, ne/!=,
// lt/<, le/<=, gt/>, ge/>=, in, odd, even, divisibleby, lower, upper.
bool IsSupportedTest(absl::string_view name);
absl::StatusOr<bool> ApplyTest(absl::string_view name, const Value& operand, const Args& args);

// Methods of str (strip, lstrip, rstrip, split, startswith, endswith,
// replace, upper, lower) and dict (items, keys, values, get).
bool IsSupportedMethod(absl::string_view name);
absl::StatusOr<Value> CallMethod(const Value& object, absl::string_view name, const Args& args,
                                 const KwargValues& kwargs);

// What templates may call: raise_exception(message) (its message becomes
// the render error), strftime_now(format) (formats `now`, the time the
// caller renders at: chat templates print today's date with it),
// namespace(...), range(...).
bool IsSupportedFunction(absl::string_view name);

// Python's strftime in the C locale for %Y %m %d %e %H %M %S %b %B %a %A %y
// %j %p %I %%; INVALID_ARGUMENT naming any other directive.
absl::StatusOr<std::string> Strftime(absl::string_view format, absl::CivilSecond time);

// json.dumps(value, ensure_ascii=False, indent=indent, separators=…,
// sort_keys=…), as transformers' tojson filter calls it. indent < 0: none.
absl::StatusOr<std::string> ToJson(const Value& value, int indent, bool sort_keys);

}  // namespace djinn::jinja

#endif  // DJINN_COMMON_JINJA_BUILTINS_H_
