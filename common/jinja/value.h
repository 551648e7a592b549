// The values a chat template computes with, as Jinja2 (Python) sees them:
// undefined, None, bool, int, float, str, list, dict (insertion-ordered,
// string keys, as JSON and chat messages have) and namespace(). Lists, dicts
// and namespaces are shared by reference, as Python objects are, so that
// `{% set ns.x = … %}` is seen through every name bound to the namespace.
//
// Strings are UTF-8; where Python counts characters (len, indexing,
// slicing) the functions here count code points.
#ifndef DJINN_COMMON_JINJA_VALUE_H_
#define DJINN_COMMON_JINJA_VALUE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace djinn::jinja {

class Value;
using List = std::vector<Value>;
// An insertion-ordered str -> value mapping (Python dicts keep insertion order).
using Dict = std::vector<std::pair<std::string, Value>>;

class Value {
 public:
  // kFunction: a global function (raise_exception, strftime_now …) read as a
  // variable, e.g. `strftime_now is defined`; its name is as_string().
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kFunction };

  Value() = default;  // undefined
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double f);
  static Value String(std::string s);
  static Value MakeList(List items);
  static Value MakeDict(Dict entries);
  static Value MakeNamespace(Dict entries);
  static Value Function(std::string name);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  // int, float or bool: Python's numbers (bool is an int subclass there).
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }

  bool as_bool() const { return bool_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? static_cast<int64_t>(bool_) : int_; }
  double as_float() const { return kind_ == Kind::kFloat ? float_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return string_; }
  // For lists; the shared list (mutations are seen by every holder).
  const List& list() const { return *list_; }
  // For dicts and namespaces.
  const Dict& dict() const { return *dict_; }
  Dict& mutable_dict() const { return *dict_; }

  // dict[key] / namespace.key, or nullptr.
  const Value* Find(const std::string& key) const;

  // Python's bool(value); undefined is false.
  bool Truthy() const;
  // Python's str(value) as Jinja2 prints it: undefined is "", None "None",
  // True "True", lists and dicts as Python's repr.
  std::string Str() const;
  // Python's repr(value) (strings quoted as Python quotes them).
  std::string Repr() const;
  // The name of the type, as error messages say it ("str", "list", "dict" …).
  const char* TypeName() const;

 private:
  Kind kind_ = Kind::kUndefined;
  bool bool_ = false;
  int64_t int_ = 0;
  double float_ = 0;
  std::string string_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
};

// Python's ==: numbers across int/float/bool, lists element-wise, dicts as
// mappings (order-insensitive); undefined equals only undefined.
bool Equal(const Value& a, const Value& b);
// Python's <: numbers, strings (code point order), lists lexicographically;
// INVALID_ARGUMENT for other pairs, as Python raises TypeError.
absl::StatusOr<bool> Less(const Value& a, const Value& b);

// Python's float repr: the shortest text that reads back to the same double
// ("1.0", "0.1", "1e+16").
std::string PythonFloatRepr(double f);

}  // namespace djinn::jinja

#endif  // DJINN_COMMON_JINJA_VALUE_H_
