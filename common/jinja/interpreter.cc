#include "common/jinja/interpreter.h"

#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/jinja/builtins.h"
#include "common/jinja/text.h"

namespace djinn::jinja {
namespace {

using K = Value::Kind;

enum class Flow { kNormal, kBreak, kContinue };

absl::Status At(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, " (line ", line, ")"));
}

class Interpreter {
 public:
  Interpreter(const Dict& globals, absl::CivilSecond now) : now_(now) {
    frames_.emplace_back();
    for (const auto& [k, v] : globals) frames_.back()[k] = v;
  }

  absl::StatusOr<std::string> Run(const Body& body) {
    std::string out;
    absl::StatusOr<Flow> flow = Exec(body, &out);
    if (!flow.ok()) return flow.status();
    return out;
  }

 private:
  Value Lookup(const std::string& name) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    if (IsSupportedFunction(name)) return Value::Function(name);
    return Value();
  }

  absl::StatusOr<Flow> Exec(const Body& body, std::string* out) {
    for (const StmtPtr& stmt : body) {
      absl::StatusOr<Flow> flow = ExecOne(*stmt, out);
      if (!flow.ok() || *flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> ExecOne(const Stmt& stmt, std::string* out) {
    switch (stmt.kind) {
      case Stmt::Kind::kText:
        *out += stmt.text;
        return Flow::kNormal;
      case Stmt::Kind::kOutput: {
        absl::StatusOr<Value> v = Eval(*stmt.expr);
        if (!v.ok()) return v.status();
        *out += v->Str();
        return Flow::kNormal;
      }
      case Stmt::Kind::kIf:
        for (size_t i = 0; i < stmt.conditions.size(); ++i) {
          absl::StatusOr<Value> c = Eval(*stmt.conditions[i]);
          if (!c.ok()) return c.status();
          if (c->Truthy()) return Exec(stmt.bodies[i], out);
        }
        return Exec(stmt.else_body, out);
      case Stmt::Kind::kFor:
        return ExecFor(stmt, out);
      case Stmt::Kind::kSet:
        return ExecSet(stmt);
      case Stmt::Kind::kBreak:
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        return Flow::kContinue;
    }
    return At(stmt.line, "unknown statement");
  }

  absl::Status Bind(const std::vector<std::string>& targets, const Value& value, int line,
                    std::map<std::string, Value>* frame) {
    if (targets.size() == 1) {
      (*frame)[targets[0]] = value;
      return absl::OkStatus();
    }
    if (!value.is_list()) return At(line, absl::StrCat("cannot unpack a ", value.TypeName(), " into ", targets.size(), " names"));
    if (value.list().size() != targets.size()) {
      return At(line, absl::StrCat("cannot unpack ", value.list().size(), " values into ", targets.size(), " names"));
    }
    for (size_t i = 0; i < targets.size(); ++i) (*frame)[targets[i]] = value.list()[i];
    return absl::OkStatus();
  }

  absl::StatusOr<Flow> ExecSet(const Stmt& stmt) {
    absl::StatusOr<Value> v = Eval(*stmt.expr);
    if (!v.ok()) return v.status();
    if (!stmt.namespace_attribute.empty()) {
      Value ns = Lookup(stmt.targets[0]);
      if (!ns.is_namespace()) return At(stmt.line, "cannot assign attribute on non-namespace object");
      Dict& entries = ns.mutable_dict();
      for (auto& [k, existing] : entries) {
        if (k == stmt.namespace_attribute) {
          existing = *std::move(v);
          return Flow::kNormal;
        }
      }
      entries.emplace_back(stmt.namespace_attribute, *std::move(v));
      return Flow::kNormal;
    }
    if (absl::Status s = Bind(stmt.targets, *v, stmt.line, &frames_.back()); !s.ok()) return s;
    return Flow::kNormal;
  }

  absl::StatusOr<List> Items(const Value& v, int line) {
    switch (v.kind()) {
      case K::kUndefined:
        return List{};
      case K::kList:
        return v.list();
      case K::kString: {
        List chars;
        for (char32_t c : DecodeUtf8(v.as_string())) {
          std::string s;
          AppendUtf8(c, &s);
          chars.push_back(Value::String(std::move(s)));
        }
        return chars;
      }
      case K::kDict: {
        List keys;
        for (const auto& [k, unused] : v.dict()) keys.push_back(Value::String(k));
        return keys;
      }
      default:
        return At(line, absl::StrCat("'", v.TypeName(), "' object is not iterable"));
    }
  }

  absl::StatusOr<Flow> ExecFor(const Stmt& stmt, std::string* out) {
    absl::StatusOr<Value> iterable = Eval(*stmt.expr);
    if (!iterable.ok()) return iterable.status();
    absl::StatusOr<List> all = Items(*iterable, stmt.line);
    if (!all.ok()) return all.status();
    // The loop filter (`for x in xs if cond`) runs first: loop.index,
    // loop.length and loop.last count the items that pass.
    List items;
    if (stmt.condition) {
      for (const Value& item : *all) {
        frames_.emplace_back();
        absl::Status bound = Bind(stmt.targets, item, stmt.line, &frames_.back());
        absl::StatusOr<Value> keep = bound.ok() ? Eval(*stmt.condition) : absl::StatusOr<Value>(bound);
        frames_.pop_back();
        if (!keep.ok()) return keep.status();
        if (keep->Truthy()) items.push_back(item);
      }
    } else {
      items = *std::move(all);
    }
    if (items.empty()) return Exec(stmt.else_body, out);
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      frames_.emplace_back();
      Dict loop = {
          {"index", Value::Int(i + 1)},
          {"index0", Value::Int(i)},
          {"revindex", Value::Int(n - i)},
          {"revindex0", Value::Int(n - i - 1)},
          {"first", Value::Bool(i == 0)},
          {"last", Value::Bool(i == n - 1)},
          {"length", Value::Int(n)},
          {"previtem", i > 0 ? items[i - 1] : Value()},
          {"nextitem", i + 1 < n ? items[i + 1] : Value()},
      };
      frames_.back()["loop"] = Value::MakeDict(std::move(loop));
      absl::Status bound = Bind(stmt.targets, items[i], stmt.line, &frames_.back());
      absl::StatusOr<Flow> flow = bound.ok() ? Exec(stmt.bodies[0], out) : absl::StatusOr<Flow>(bound);
      frames_.pop_back();
      if (!flow.ok()) return flow.status();
      if (*flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<std::vector<Value>> EvalAll(const std::vector<ExprPtr>& exprs) {
    std::vector<Value> values;
    for (const ExprPtr& e : exprs) {
      absl::StatusOr<Value> v = Eval(*e);
      if (!v.ok()) return v.status();
      values.push_back(*std::move(v));
    }
    return values;
  }

  absl::StatusOr<KwargValues> EvalKwargs(const Kwargs& kwargs) {
    KwargValues values;
    for (const auto& [k, e] : kwargs) {
      absl::StatusOr<Value> v = Eval(*e);
      if (!v.ok()) return v.status();
      values.emplace_back(k, *std::move(v));
    }
    return values;
  }

  // Errors from builtins get the line of the expression that called them.
  template <typename T>
  absl::StatusOr<T> WithLine(absl::StatusOr<T> result, int line) {
    if (result.ok()) return result;
    return At(line, result.status().message());
  }

  absl::StatusOr<Value> Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName:
        return Lookup(e.name);
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        absl::StatusOr<std::vector<Value>> items = EvalAll(e.items);
        if (!items.ok()) return items.status();
        return Value::MakeList(*std::move(items));
      }
      case Expr::Kind::kDict: {
        Dict entries;
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          absl::StatusOr<Value> key = Eval(*e.items[i]);
          if (!key.ok()) return key.status();
          if (!key->is_string()) return At(e.line, "dict keys other than strings are not supported");
          absl::StatusOr<Value> value = Eval(*e.items[i + 1]);
          if (!value.ok()) return value.status();
          bool replaced = false;
          for (auto& [k, v] : entries) {
            if (k == key->as_string()) {
              v = *value;
              replaced = true;
            }
          }
          if (!replaced) entries.emplace_back(key->as_string(), *std::move(value));
        }
        return Value::MakeDict(std::move(entries));
      }
      case Expr::Kind::kGetAttr: {
        absl::StatusOr<Value> object = Eval(*e.a);
        if (!object.ok()) return object.status();
        if (object->is_undefined()) {
          return At(e.line, absl::StrCat("cannot read attribute '", e.name, "' of an undefined value"));
        }
        const Value* found = object->Find(e.name);
        return found ? *found : Value();
      }
      case Expr::Kind::kGetItem:
        return EvalGetItem(e);
      case Expr::Kind::kSlice:
        return EvalSlice(e);
      case Expr::Kind::kCall:
        return EvalCall(e);
      case Expr::Kind::kFilter: {
        absl::StatusOr<Value> operand = Eval(*e.a);
        if (!operand.ok()) return operand.status();
        absl::StatusOr<std::vector<Value>> args = EvalAll(e.items);
        if (!args.ok()) return args.status();
        absl::StatusOr<KwargValues> kwargs = EvalKwargs(e.kwargs);
        if (!kwargs.ok()) return kwargs.status();
        return WithLine(ApplyFilter(e.name, *operand, *args, *kwargs), e.line);
      }
      case Expr::Kind::kTest: {
        absl::StatusOr<Value> operand = Eval(*e.a);
        if (!operand.ok()) return operand.status();
        absl::StatusOr<std::vector<Value>> args = EvalAll(e.items);
        if (!args.ok()) return args.status();
        absl::StatusOr<bool> result = WithLine(ApplyTest(e.name, *operand, *args), e.line);
        if (!result.ok()) return result.status();
        return Value::Bool(*result != e.negated);
      }
      case Expr::Kind::kNot: {
        absl::StatusOr<Value> operand = Eval(*e.a);
        if (!operand.ok()) return operand.status();
        return Value::Bool(!operand->Truthy());
      }
      case Expr::Kind::kNegate: {
        absl::StatusOr<Value> operand = Eval(*e.a);
        if (!operand.ok()) return operand.status();
        if (operand->kind() == K::kFloat) return Value::Float(-operand->as_float());
        if (operand->is_number()) return Value::Int(-operand->as_int());
        return At(e.line, absl::StrCat("bad operand type for unary -: '", operand->TypeName(), "'"));
      }
      case Expr::Kind::kBinary:
        return EvalBinary(e);
      case Expr::Kind::kCondition: {
        absl::StatusOr<Value> condition = Eval(*e.b);
        if (!condition.ok()) return condition.status();
        if (condition->Truthy()) return Eval(*e.a);
        if (e.c) return Eval(*e.c);
        return Value();
      }
    }
    return At(e.line, "unknown expression");
  }

  absl::StatusOr<Value> EvalGetItem(const Expr& e) {
    absl::StatusOr<Value> object = Eval(*e.a);
    if (!object.ok()) return object.status();
    absl::StatusOr<Value> key = Eval(*e.b);
    if (!key.ok()) return key.status();
    if (object->is_undefined()) {
      return At(e.line, absl::StrCat("cannot read item ", key->Repr(), " of an undefined value"));
    }
    if ((object->is_dict() || object->is_namespace()) && key->is_string()) {
      const Value* found = object->Find(key->as_string());
      return found ? *found : Value();
    }
    bool int_key = key->kind() == K::kInt || key->kind() == K::kBool;
    if (object->is_list() && int_key) {
      int64_t n = static_cast<int64_t>(object->list().size());
      int64_t i = key->as_int() < 0 ? key->as_int() + n : key->as_int();
      if (i < 0 || i >= n) return Value();  // Jinja2: an undefined value, not an error
      return object->list()[i];
    }
    if (object->is_string() && int_key) {
      std::vector<char32_t> cps = DecodeUtf8(object->as_string());
      int64_t n = static_cast<int64_t>(cps.size());
      int64_t i = key->as_int() < 0 ? key->as_int() + n : key->as_int();
      if (i < 0 || i >= n) return Value();
      std::string s;
      AppendUtf8(cps[i], &s);
      return Value::String(std::move(s));
    }
    return Value();
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e) {
    absl::StatusOr<Value> object = Eval(*e.a);
    if (!object.ok()) return object.status();
    std::optional<int64_t> parts[3];
    for (int i = 0; i < 3; ++i) {
      if (!e.items[i]) continue;
      absl::StatusOr<Value> v = Eval(*e.items[i]);
      if (!v.ok()) return v.status();
      if (v->is_none()) continue;
      if (v->kind() != K::kInt && v->kind() != K::kBool) return At(e.line, "slice indices must be integers or None");
      parts[i] = v->as_int();
    }
    if (object->is_list()) {
      absl::StatusOr<std::vector<int64_t>> indices =
          SliceIndices(static_cast<int64_t>(object->list().size()), parts[0], parts[1], parts[2]);
      if (!indices.ok()) return At(e.line, indices.status().message());
      List out;
      for (int64_t i : *indices) out.push_back(object->list()[i]);
      return Value::MakeList(std::move(out));
    }
    if (object->is_string()) {
      std::vector<char32_t> cps = DecodeUtf8(object->as_string());
      absl::StatusOr<std::vector<int64_t>> indices =
          SliceIndices(static_cast<int64_t>(cps.size()), parts[0], parts[1], parts[2]);
      if (!indices.ok()) return At(e.line, indices.status().message());
      std::string out;
      for (int64_t i : *indices) AppendUtf8(cps[i], &out);
      return Value::String(std::move(out));
    }
    if (object->is_undefined()) return At(e.line, "cannot slice an undefined value");
    return At(e.line, absl::StrCat("'", object->TypeName(), "' object is not subscriptable"));
  }

  absl::StatusOr<Value> EvalCall(const Expr& e) {
    absl::StatusOr<std::vector<Value>> args = EvalAll(e.items);
    if (!args.ok()) return args.status();
    absl::StatusOr<KwargValues> kwargs = EvalKwargs(e.kwargs);
    if (!kwargs.ok()) return kwargs.status();
    const Expr& callee = *e.a;
    if (callee.kind == Expr::Kind::kGetAttr) {
      absl::StatusOr<Value> object = Eval(*callee.a);
      if (!object.ok()) return object.status();
      return WithLine(CallMethod(*object, callee.name, *args, *kwargs), e.line);
    }
    // A variable of the template may shadow a function's name.
    Value shadow = Lookup(callee.name);
    if (shadow.kind() != K::kFunction) {
      return At(e.line, absl::StrCat("'", shadow.TypeName(), "' object is not callable"));
    }
    if (callee.name == "raise_exception") {
      std::string message = args->empty() ? "" : (*args)[0].Str();
      absl::Status raised = absl::InvalidArgumentError(message);
      raised.SetPayload(kRaisedPayloadUrl, absl::Cord("1"));
      return raised;
    }
    if (callee.name == "strftime_now") {
      if (args->size() != 1 || !(*args)[0].is_string()) return At(e.line, "strftime_now() takes one format string");
      absl::StatusOr<std::string> text = Strftime((*args)[0].as_string(), now_);
      if (!text.ok()) return At(e.line, text.status().message());
      return Value::String(*std::move(text));
    }
    if (callee.name == "namespace") {
      Dict entries;
      if (args->size() > 1) return At(e.line, "namespace() takes at most one positional argument");
      if (args->size() == 1) {
        if (!(*args)[0].is_dict()) return At(e.line, "namespace() takes a mapping");
        entries = (*args)[0].dict();
      }
      for (auto& [k, v] : *kwargs) {
        bool replaced = false;
        for (auto& [ek, ev] : entries) {
          if (ek == k) {
            ev = v;
            replaced = true;
          }
        }
        if (!replaced) entries.emplace_back(k, v);
      }
      return Value::MakeNamespace(std::move(entries));
    }
    if (callee.name == "range") {
      if (args->empty() || args->size() > 3 || !kwargs->empty()) return At(e.line, "range() takes 1 to 3 integers");
      for (const Value& a : *args) {
        if (a.kind() != K::kInt && a.kind() != K::kBool) return At(e.line, "range() takes integers");
      }
      int64_t start = args->size() == 1 ? 0 : (*args)[0].as_int();
      int64_t stop = args->size() == 1 ? (*args)[0].as_int() : (*args)[1].as_int();
      int64_t step = args->size() == 3 ? (*args)[2].as_int() : 1;
      if (step == 0) return At(e.line, "range() arg 3 must not be zero");
      // The sandbox Jinja2 runs chat templates in caps range() at 100000 items.
      List out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (out.size() >= 100000) return At(e.line, "range() too big");
        out.push_back(Value::Int(i));
      }
      return Value::MakeList(std::move(out));
    }
    return At(e.line, absl::StrCat("function \"", callee.name, "\" is not supported"));
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e) {
    const std::string& op = e.name;
    absl::StatusOr<Value> left = Eval(*e.a);
    if (!left.ok()) return left.status();
    if (op == "and") return left->Truthy() ? Eval(*e.b) : *left;
    if (op == "or") return left->Truthy() ? *left : Eval(*e.b);
    absl::StatusOr<Value> right = Eval(*e.b);
    if (!right.ok()) return right.status();
    const Value& a = *left;
    const Value& b = *right;
    if (op == "==") return Value::Bool(Equal(a, b));
    if (op == "!=") return Value::Bool(!Equal(a, b));
    if (op == "~") return Value::String(a.Str() + b.Str());
    if (op == "in" || op == "not in") {
      absl::StatusOr<bool> found = WithLine(ApplyTest("in", a, {b}), e.line);
      if (!found.ok()) return found.status();
      return Value::Bool(*found == (op == "in"));
    }
    if (a.is_undefined() || b.is_undefined()) {
      return At(e.line, absl::StrCat("operator '", op, "' on an undefined value"));
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      absl::StatusOr<bool> less = (op == "<" || op == ">=") ? Less(a, b) : Less(b, a);
      if (!less.ok()) return At(e.line, less.status().message());
      return Value::Bool((op == "<" || op == ">") ? *less : !*less);
    }
    return Arithmetic(op, a, b, e.line);
  }

  absl::StatusOr<Value> Arithmetic(const std::string& op, const Value& a, const Value& b, int line) {
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value::String(a.as_string() + b.as_string());
      if (a.is_list() && b.is_list()) {
        List out = a.list();
        out.insert(out.end(), b.list().begin(), b.list().end());
        return Value::MakeList(std::move(out));
      }
    }
    if (op == "*" && (a.is_string() || a.is_list() || b.is_string() || b.is_list())) {
      const Value& seq = (a.is_string() || a.is_list()) ? a : b;
      const Value& count = (a.is_string() || a.is_list()) ? b : a;
      if (count.kind() == K::kInt || count.kind() == K::kBool) {
        int64_t times = count.as_int();
        if (times > 100000) return At(line, "sequence repetition too large");
        if (seq.is_string()) {
          std::string out;
          for (int64_t i = 0; i < times; ++i) out += seq.as_string();
          return Value::String(std::move(out));
        }
        List out;
        for (int64_t i = 0; i < times; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
        return Value::MakeList(std::move(out));
      }
    }
    if (!a.is_number() || !b.is_number()) {
      return At(line, absl::StrCat("unsupported operand type(s) for ", op, ": '", a.TypeName(), "' and '",
                                   b.TypeName(), "'"));
    }
    bool floating = a.kind() == K::kFloat || b.kind() == K::kFloat;
    if (op == "/") {
      if (b.as_float() == 0) return At(line, "division by zero");
      return Value::Float(a.as_float() / b.as_float());
    }
    if (floating) {
      double x = a.as_float();
      double y = b.as_float();
      if (op == "+") return Value::Float(x + y);
      if (op == "-") return Value::Float(x - y);
      if (op == "*") return Value::Float(x * y);
      if (op == "**") return Value::Float(std::pow(x, y));
      if (y == 0) return At(line, "float division by zero");
      if (op == "//") return Value::Float(std::floor(x / y));
      if (op == "%") {
        double r = std::fmod(x, y);
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return Value::Float(r);
      }
    } else {
      int64_t x = a.as_int();
      int64_t y = b.as_int();
      if (op == "+") return Value::Int(x + y);
      if (op == "-") return Value::Int(x - y);
      if (op == "*") return Value::Int(x * y);
      if (op == "**") {
        if (y < 0) return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
        int64_t r = 1;
        for (int64_t i = 0; i < y && i < 64; ++i) r *= x;
        return Value::Int(r);
      }
      if (y == 0) return At(line, "integer division or modulo by zero");
      // Python floors (the result of // and the sign of % follow the divisor).
      int64_t q = x / y;
      int64_t r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        --q;
        r += y;
      }
      if (op == "//") return Value::Int(q);
      if (op == "%") return Value::Int(r);
    }
    return At(line, absl::StrCat("unknown operator '", op, "'"));
  }

  std::vector<std::map<std::string, Value>> frames_;
  absl::CivilSecond now_;
};

}  // namespace

absl::StatusOr<std::string> Render(const Body& body, const Dict& globals, absl::CivilSecond now) {
  return Interpreter(globals, now).Run(body);
}

}  // namespace djinn::jinja
