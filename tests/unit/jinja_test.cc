// Djinn's Jinja subset, construct by construct, and every kind of refusal.
// Expected outputs are Jinja2's (3.1, trim_blocks and lstrip_blocks on, as
// transformers renders chat templates); the conformance test
// (tests/conformance/chat_template) checks whole real templates.
#include <string>

#include "absl/time/civil_time.h"
#include "common/jinja/interpreter.h"
#include "common/jinja/template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace djinn::jinja {
namespace {

using ::testing::HasSubstr;

const absl::CivilSecond kNow(2024, 9, 7, 13, 5, 9);

absl::StatusOr<std::string> RenderWith(const std::string& source, const Dict& variables) {
  absl::StatusOr<Template> t = Template::Parse(source);
  if (!t.ok()) return t.status();
  return t->Render(variables, kNow);
}

std::string Render(const std::string& source, const Dict& variables = {}) {
  absl::StatusOr<std::string> out = RenderWith(source, variables);
  EXPECT_TRUE(out.ok()) << source << ": " << out.status();
  return out.ok() ? *out : "<error>";
}

std::string ParseError(const std::string& source) {
  absl::StatusOr<Template> t = Template::Parse(source);
  EXPECT_FALSE(t.ok()) << source << " parsed";
  if (t.ok()) return "";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

std::string RenderError(const std::string& source, const Dict& variables = {}) {
  absl::StatusOr<std::string> out = RenderWith(source, variables);
  EXPECT_FALSE(out.ok()) << source << " rendered " << (out.ok() ? *out : "");
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

Value Message(const std::string& role, const std::string& content) {
  return Value::MakeDict({{"role", Value::String(role)}, {"content", Value::String(content)}});
}

TEST(JinjaTest, TextAndOutput) {
  EXPECT_EQ(Render("Hello {{ name }}!", {{"name", Value::String("World")}}), "Hello World!");
  EXPECT_EQ(Render("{{ none }}|{{ true }}|{{ False }}|{{ missing }}|{{ 3 }}|{{ 2.5 }}|{{ 1.0 }}"),
            "None|True|False||3|2.5|1.0");
  EXPECT_EQ(Render("{{ [1, 'a', none] }}|{{ {'k': 'v'} }}"), "[1, 'a', None]|{'k': 'v'}");
  EXPECT_EQ(Render("a{# a comment #}b"), "ab");
  EXPECT_EQ(Render("{{ 'a' 'b' }}"), "ab");  // adjacent literals concatenate
  EXPECT_EQ(Render("{{ \"q\\\"\\n\\t\\u00e9\\x41\" }}"), "q\"\n\t\xC3\xA9" "A");
}

TEST(JinjaTest, TrailingNewlineOfTheTemplateIsDropped) {
  EXPECT_EQ(Render("x\n"), "x");
  EXPECT_EQ(Render("x\n\n"), "x\n");
  EXPECT_EQ(Render("a\r\nb"), "a\nb");
}

TEST(JinjaTest, TrimBlocksAndLstripBlocks) {
  // The newline after a block tag goes, and the indentation before one.
  EXPECT_EQ(Render("  {% if true %}\n  yes\n  {% endif %}\nend"), "  yes\nend");
  EXPECT_EQ(Render("x\n  {# comment #}\ny"), "x\ny");
  // Not for {{ }}: its newline stays, its indentation too.
  EXPECT_EQ(Render("  {{ 'v' }}\nz"), "  v\nz");
  // Text before the tag on the same line: nothing is stripped.
  EXPECT_EQ(Render("a  {% if true %}b{% endif %}"), "a  b");
  // {%+ keeps the indentation, +%} the newline.
  EXPECT_EQ(Render("  {%+ if true +%}\nb{% endif %}"), "  \nb");
}

TEST(JinjaTest, WhitespaceControl) {
  EXPECT_EQ(Render("a  \n {{- 'b' -}} \n  c"), "abc");
  EXPECT_EQ(Render("a\n\n{%- if true -%}\n\n b \n\n{%- endif -%}\n c"), "abc");
  EXPECT_EQ(Render("a {#- c -#} b"), "ab");
}

TEST(JinjaTest, IfElifElse) {
  const std::string t = "{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %}";
  EXPECT_EQ(Render(t, {{"x", Value::Int(1)}}), "one");
  EXPECT_EQ(Render(t, {{"x", Value::Int(2)}}), "two");
  EXPECT_EQ(Render(t, {{"x", Value::Int(7)}}), "many");
  EXPECT_EQ(Render("{% if [] %}a{% elif {} %}b{% elif '' %}c{% elif 0 %}d{% else %}e{% endif %}"), "e");
}

TEST(JinjaTest, ForLoopVariables) {
  EXPECT_EQ(Render("{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ x }}"
                   "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}"
                   "{{ loop.revindex }}{{ loop.length }};{% endfor %}"),
            "10aF33;21b23;32cL13;");
  EXPECT_EQ(Render("{% for x in [1,2,3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }} {% endfor %}"),
            "<1>2 1<2>3 2<3> ");
}

TEST(JinjaTest, ForLoopFilterElseUnpackingAndControl) {
  // The loop filter runs first: loop.* count the items that pass.
  EXPECT_EQ(Render("{% for x in [1,2,3,4] if x is even %}{{ loop.index }}:{{ x }}{{ ',' if not loop.last }}"
                   "{% endfor %}"),
            "1:2,2:4");
  EXPECT_EQ(Render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(Render("{% for k, v in {'a': 1} | items %}{{ k }}{{ v }}{% endfor %}"), "a1");
  EXPECT_EQ(Render("{% for c in 'héj' %}[{{ c }}]{% endfor %}"), "[h][\xC3\xA9][j]");
  EXPECT_EQ(Render("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}"
                   "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "13");
  EXPECT_EQ(Render("{% for x in undefined_thing %}x{% endfor %}done"), "done");
}

TEST(JinjaTest, GenerationTagRendersItsBody) {
  // transformers' extension; it only marks assistant tokens.
  EXPECT_EQ(Render("a{% generation %}b{{ 1 }}{% endgeneration %}c"), "ab1c");
  EXPECT_EQ(Render("a\n  {%- generation -%}\n b \n{%- endgeneration %}\nc"), "abc");
}

TEST(JinjaTest, SetScopingAndNamespace) {
  // A for loop's body is its own scope; if is not.
  EXPECT_EQ(Render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}"), "21");
  // Each iteration starts from the outer scope again.
  EXPECT_EQ(Render("{% set x = 0 %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}{% endfor %}"), "[0][0]");
  EXPECT_EQ(Render("{% if true %}{% set y = 'in' %}{% endif %}{{ y }}"), "in");
  EXPECT_EQ(Render("{% set ns = namespace(n=0, s='') %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}"
                   "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}"),
            "6 123");
  EXPECT_EQ(Render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(Render("{% set messages = messages[1:] %}{{ messages | length }}",
                   {{"messages", Value::MakeList({Value::Int(1), Value::Int(2)})}}),
            "1");
}

TEST(JinjaTest, SubscriptsAndSlices) {
  EXPECT_EQ(Render("{{ [1,2,3,4][1:] }}|{{ 'abc'[::-1] }}|{{ [1,2,3][-1] }}|{{ [1,2,3,4,5][::2] }}|{{ 'héllo'[1] }}"),
            "[2, 3, 4]|cba|3|[1, 3, 5]|\xC3\xA9");
  EXPECT_EQ(Render("{{ [1,2,3][:-1] }}|{{ 'abcdef'[1:4] }}|{{ [1][5] }}|{{ [1,2][5:] }}"), "[1, 2]|bcd||[]");
  EXPECT_EQ(Render("{{ m['role'] }}{{ m.content }}{{ m.missing }}", {{"m", Message("user", "hi")}}), "userhi");
  EXPECT_EQ(Render("{{ out[:-1] }}", {{"out", Value::String("{\"a\": 1}")}}), "{\"a\": 1");
}

TEST(JinjaTest, StringMethods) {
  EXPECT_EQ(Render("{{ ' a b '.strip() }}|{{ 'x\\n\\n'.rstrip('\\n') }}|{{ '\\n\\ny'.lstrip('\\n') }}|"
                   "{{ '   '.lstrip('\\n') }}|{{ 'xxhixx'.strip('x') }}"),
            "a b|x|y|   |hi");
  EXPECT_EQ(Render("{{ 'a,b,,c'.split(',') }}|{{ '  a  b '.split() }}|{{ 'a</think>b'.split('</think>')[-1] }}|"
                   "{{ 'a b c'.split(' ', 1) }}"),
            "['a', 'b', '', 'c']|['a', 'b']|b|['a', 'b c']");
  EXPECT_EQ(Render("{{ 'hello'.startswith('he') }}{{ 'hello'.endswith(('x', 'lo')) }}{{ 'a-b-c'.replace('-', '+') }}"
                   "{{ 'AbC'.lower() }}{{ 'abc'.upper() }}"),
            "TrueTruea+b+cabcABC");
  // Python's whitespace, not only ASCII: U+3000 and U+00A0 are stripped.
  EXPECT_EQ(Render("[{{ s.strip() }}]", {{"s", Value::String("\xE3\x80\x80 x\xC2\xA0")}}), "[x]");
}

TEST(JinjaTest, DictMethods) {
  EXPECT_EQ(Render("{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('z', 'def') }}"
                   "{{ d.get('z') }}",
                   {{"d", Value::MakeDict({{"a", Value::Int(1)}, {"b", Value::Int(2)}})}}),
            "['a', 'b'][1, 2]1defNone");
}

TEST(JinjaTest, Filters) {
  EXPECT_EQ(Render("[{{ '  x \\n' | trim }}]{{ 'héllo' | length }}{{ [1,2] | count }}{{ 'ab' | upper }}"
                   "{{ 'AB' | lower }}{{ 'hello WORLD' | capitalize }}"),
            "[x]52ABabHello world");
  EXPECT_EQ(Render("{{ missing | default('d') }}{{ '' | default('e', true) }}{{ 'set' | d('x') }}"), "deset");
  EXPECT_EQ(Render("{{ ['a','b'] | join(', ') }}|{{ [1,2] | join }}|{{ 3 | string }}{{ none | string }}"),
            "a, b|12|3None");
  EXPECT_EQ(Render("{{ [1,2,3] | first }}{{ [1,2,3] | last }}{{ [1,2,3] | reverse | list }}{{ 'ab' | list }}"),
            "13[3, 2, 1]['a', 'b']");
  EXPECT_EQ(Render("{{ '3' | int + 1 }}{{ 2.7 | int }}{{ 'x' | int }}{{ -3 | abs }}{{ 'aXa' | replace('a', 'b') }}"),
            "4203bXb");
}

TEST(JinjaTest, ToJsonAsTransformersDefinesIt) {
  Dict vars = {{"v", Value::MakeDict({{"name", Value::String("café \"q\"\n")},
                                      {"n", Value::MakeList({Value::Int(1), Value::Float(2.5), Value::None(),
                                                             Value::Bool(true)})},
                                      {"e", Value::MakeDict({})}})}};
  EXPECT_EQ(Render("{{ v | tojson }}", vars),
            "{\"name\": \"caf\xC3\xA9 \\\"q\\\"\\n\", \"n\": [1, 2.5, null, true], \"e\": {}}");
  EXPECT_EQ(Render("{{ v | tojson(indent=2) }}", vars),
            "{\n  \"name\": \"caf\xC3\xA9 \\\"q\\\"\\n\",\n  \"n\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n"
            "  \"e\": {}\n}");
  EXPECT_EQ(Render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}"), "{\"a\": 2, \"b\": 1}");
  EXPECT_EQ(Render("{{ '<&>' | tojson }}"), "\"<&>\"");  // no HTML escaping
}

TEST(JinjaTest, SelectRejectAndMap) {
  Dict vars = {{"ms", Value::MakeList({Message("user", "a"), Message("assistant", "b"), Message("user", "c"),
                                       Value::MakeDict({{"role", Value::String("tool")}})})}};
  EXPECT_EQ(Render("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join }}", vars), "ac");
  EXPECT_EQ(Render("{{ ms | rejectattr('role', 'equalto', 'user') | map(attribute='role') | list }}", vars),
            "['assistant', 'tool']");
  EXPECT_EQ(Render("{{ ms | selectattr('content', 'undefined') | length }}{{ ms | selectattr('content') | length }}",
                   vars),
            "13");
  EXPECT_EQ(Render("{{ [1,2,3,4] | select('odd') | list }}{{ ['a','b'] | reject('equalto', 'a') | list }}"
                   "{{ ['A','B'] | map('lower') | join }}"),
            "[1, 3]['b']ab");
}

TEST(JinjaTest, Tests) {
  Dict vars = {{"s", Value::String("x")}, {"n", Value::None()}, {"d", Value::MakeDict({})},
               {"l", Value::MakeList({})}, {"i", Value::Int(4)}};
  EXPECT_EQ(Render("{{ s is defined }}{{ q is defined }}{{ q is undefined }}{{ n is none }}{{ s is string }}"
                   "{{ d is mapping }}{{ l is mapping }}{{ l is iterable }}{{ s is iterable }}{{ i is iterable }}",
                   vars),
            "TrueFalseTrueTrueTrueTrueFalseTrueTrueFalse");
  EXPECT_EQ(Render("{{ i is number }}{{ i is integer }}{{ i is even }}{{ i is odd }}{{ i is divisibleby 2 }}"
                   "{{ i is not none }}{{ true is true }}{{ 1 is true }}{{ i is eq 4 }}{{ 'b' is in 'abc' }}",
                   vars),
            "TrueTrueTrueFalseTrueTrueTrueFalseTrueTrue");
  // `not x is defined` is `not (x is defined)`.
  EXPECT_EQ(Render("{% if not q is defined %}undefined{% endif %}"), "undefined");
  EXPECT_EQ(Render("{{ strftime_now is defined }}{{ raise_exception is callable }}"), "TrueTrue");
}

TEST(JinjaTest, Operators) {
  EXPECT_EQ(Render("{{ 'a' ~ 1 ~ none ~ missing }}|{{ 'a' + 'b' }}|{{ [1] + [2] }}|{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}"),
            "a1None|ab|[1, 2]|7|9");
  EXPECT_EQ(Render("{{ 7 // 2 }}{{ -7 // 2 }}{{ -7 % 3 }}{{ 7 % -3 }}{{ 7 / 2 }}{{ 2 ** 10 }}{{ 4 / 2 }}{{ -(3) }}"),
            "3-42-23.510242.0-3");
  EXPECT_EQ(Render("{{ 1 < 2 }}{{ 'a' < 'b' }}{{ 2 >= 3 }}{{ 1 == 1.0 }}{{ 1 != '1' }}{{ '' != false }}"
                   "{{ none == none }}"),
            "TrueTrueFalseTrueTrueTrueTrue");
  EXPECT_EQ(Render("{{ 'b' in 'abc' }}{{ 2 in [1,2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [1] }}{{ 'z' in missing }}"),
            "TrueTrueTrueTrueFalse");
  // and/or give one of their operands, as in Python.
  EXPECT_EQ(Render("{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ not 0 }}"), "x|b||True");
  EXPECT_EQ(Render("{{ 'y' if 1 else 'n' }}{{ 'y' if 0 else 'n' }}[{{ 'y' if 0 }}]"), "yn[]");
  EXPECT_EQ(Render("{{ 'ab' * 2 }}{{ [0] * 2 }}"), "abab[0, 0]");
}

TEST(JinjaTest, RaiseExceptionCarriesTheTemplatesMessage) {
  absl::StatusOr<std::string> out =
      RenderWith("before{{ raise_exception('Roles must alternate user/assistant') }}", {});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "Roles must alternate user/assistant");
  EXPECT_TRUE(out.status().GetPayload(kRaisedPayloadUrl).has_value());
}

TEST(JinjaTest, StrftimeNowFormatsTheGivenTime) {
  EXPECT_EQ(Render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %a %j %%') }}"),
            "07 Sep 2024|2024-09-07 13:05:09 Saturday September Sat 251 %");
  EXPECT_THAT(RenderError("{{ strftime_now('%Q') }}"), HasSubstr("directive %Q is not supported"));
}

TEST(JinjaTest, RuntimeErrorsAsJinja2) {
  EXPECT_THAT(RenderError("{{ missing.attr }}"), HasSubstr("undefined"));
  EXPECT_THAT(RenderError("\n\n{{ 'a' + 1 }}"), HasSubstr("(line 3)"));
  EXPECT_THAT(RenderError("{{ missing + 'a' }}"), HasSubstr("undefined"));
  EXPECT_THAT(RenderError("{{ 1 // 0 }}"), HasSubstr("zero"));
  EXPECT_THAT(RenderError("{{ 1 < 'a' }}"), HasSubstr("not supported between"));
  EXPECT_THAT(RenderError("{% set x = 1 %}{% set x.y = 2 %}"), HasSubstr("non-namespace"));
  EXPECT_THAT(RenderError("{{ 'É' | lower }}"), HasSubstr("non-ASCII"));
  EXPECT_THAT(RenderError("{{ 5 | tojson }}{{ missing | tojson }}"), HasSubstr("not JSON serializable"));
  EXPECT_THAT(RenderError("{{ [1] | select('sameas_computed' ~ '') | list }}"), HasSubstr("not supported"));
}

TEST(JinjaTest, UnsupportedConstructsAreRefusedAtParseTimeByName) {
  EXPECT_EQ(ParseError("a\nb\n{{ x | wordcount }}"), "filter \"wordcount\" is not supported (line 3)");
  EXPECT_EQ(ParseError("{% if x is sameas y %}{% endif %}"), "test \"sameas\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{{ x.title() }}"), "method \"title\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{{ cycler(1, 2) }}"), "function \"cycler\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{% macro m() %}{% endmacro %}"), "statement \"macro\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{% include 'x' %}"), "statement \"include\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{% extends 'x' %}"), "statement \"extends\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{% raw %}{{ x }}{% endraw %}"), "statement \"raw\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{% frobnicate %}"), "unknown statement \"frobnicate\" (line 1)");
  EXPECT_EQ(ParseError("{{ xs | select('sameas', 1) }}"), "test \"sameas\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{{ xs | map('wordcount') }}"), "filter \"wordcount\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{% set x %}body{% endset %}"),
            "statement \"set\" with a body ({% endset %}) is not supported (line 1)");
  EXPECT_EQ(ParseError("{% for x in y recursive %}{% endfor %}"), "for loop \"recursive\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{{ f(*args) }}"), "function \"f\" is not supported (line 1)");
  EXPECT_EQ(ParseError("{{ range(*args) }}"), "argument unpacking (* / **) is not supported (line 1)");
}

TEST(JinjaTest, SyntaxErrorsNameTheLine) {
  EXPECT_THAT(ParseError("x\n{% if true %}"), HasSubstr("expected {% elif or else or endif %}"));
  EXPECT_THAT(ParseError("a\n\n{{ x "), HasSubstr("(line 3)"));
  EXPECT_THAT(ParseError("{{ 'abc }}"), HasSubstr("string literal not closed"));
  EXPECT_THAT(ParseError("{# never closed"), HasSubstr("comment not closed"));
  EXPECT_THAT(ParseError("{{ 1 + }}"), HasSubstr("expected an expression"));
  EXPECT_THAT(ParseError("{% break %}"), HasSubstr("outside a for loop"));
  EXPECT_THAT(ParseError("{{ a ? b }}"), HasSubstr("unexpected character '?'"));
  EXPECT_THAT(ParseError("{% endif %}"), HasSubstr("unknown statement \"endif\""));
  // Pathological nesting is refused, not a stack overflow.
  EXPECT_THAT(ParseError("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}"),
              HasSubstr("nesting deeper than"));
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  EXPECT_THAT(ParseError(ifs), HasSubstr("nesting deeper than"));
}

}  // namespace
}  // namespace djinn::jinja
