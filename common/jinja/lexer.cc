#include "common/jinja/lexer.h"

#include <cctype>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/jinja/text.h"

namespace djinn::jinja {
namespace {

absl::Status LexError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("syntax error: ", what, " (line ", line, ")"));
}

// Jinja2 joins the template's lines with "\n" ("\r\n" and "\r" become
// "\n") and, without keep_trailing_newline, drops one final newline.
std::string NormalizeNewlines(absl::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int CountNewlines(absl::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// The length of the whitespace (Jinja2's `\s*`, Python's Unicode
// whitespace) that `s` starts with.
size_t LeadingSpace(const std::string& s) { return s.size() - PyStrip(s, std::nullopt, true, false).size(); }

std::string RstripSpace(const std::string& s) { return PyStrip(s, std::nullopt, false, true); }

// Python's unicode-escape decoding of a string literal's body, as Jinja2
// applies it; an unknown escape stays as written.
absl::StatusOr<std::string> Unescape(absl::string_view body, int line) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i + 1 >= body.size()) {
      out.push_back('\\');
      break;
    }
    char e = body[++i];
    switch (e) {
      case '\n':
        break;  // line continuation
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
        out.push_back('\'');
        break;
      case '"':
        out.push_back('"');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        std::string hex(body.substr(i + 1, digits));
        if (hex.size() != digits) {
          return LexError(line, absl::StrCat("truncated \\", std::string(1, e), " escape in a string"));
        }
        for (char h : hex) {
          if (!std::isxdigit(static_cast<unsigned char>(h))) {
            return LexError(line, absl::StrCat("invalid \\", std::string(1, e), " escape in a string"));
          }
        }
        uint32_t cp = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
        if (cp > 0x10FFFF) return LexError(line, "escape beyond U+10FFFF in a string");
        AppendUtf8(static_cast<char32_t>(cp), &out);
        i += digits;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k) {
            cp = cp * 8 + static_cast<uint32_t>(body[++i] - '0');
          }
          AppendUtf8(static_cast<char32_t>(cp), &out);
        } else {
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(absl::string_view source) : src_(NormalizeNewlines(source)) {}

  absl::StatusOr<std::vector<Token>> Run() {
    bool strip_leading = false;  // the previous tag ended with "-"
    bool line_starting = true;   // the text starts at the beginning of a line
    while (pos_ <= src_.size()) {
      size_t tag = FindTag(pos_);
      std::string text = src_.substr(pos_, tag == std::string::npos ? std::string::npos : tag - pos_);
      int text_line = line_;
      line_ += CountNewlines(text);
      if (strip_leading) {
        size_t skip = LeadingSpace(text);
        text_line += CountNewlines(absl::string_view(text).substr(0, skip));
        text = text.substr(skip);
      }
      if (tag == std::string::npos) {
        Emit(Token::Type::kText, std::move(text), text_line);
        break;
      }
      char kind = src_[tag + 1];
      char modifier = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      bool has_modifier = modifier == '-' || (modifier == '+' && kind != '{');
      if (modifier == '-') {
        text = RstripSpace(text);
      } else if (kind != '{' && modifier != '+') {
        // lstrip_blocks: spaces and tabs between the line start and a block
        // or comment tag go.
        size_t line_start = text.rfind('\n');
        line_start = line_start == std::string::npos ? 0 : line_start + 1;
        if (line_start > 0 || line_starting) {
          bool blank = text.find_first_not_of(" \t", line_start) == std::string::npos;
          if (blank) text.resize(line_start);
        }
      }
      Emit(Token::Type::kText, std::move(text), text_line);
      pos_ = tag + 2 + (has_modifier ? 1 : 0);

      char end_modifier = '\0';
      if (kind == '#') {
        size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) return LexError(line_, "comment not closed with #}");
        if (end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+')) end_modifier = src_[end - 1];
        line_ += CountNewlines(absl::string_view(src_).substr(pos_, end - pos_));
        pos_ = end + 2;
      } else {
        int begin_line = line_;
        Emit(kind == '%' ? Token::Type::kBlockBegin : Token::Type::kVariableBegin, kind == '%' ? "{%" : "{{",
             begin_line);
        absl::StatusOr<char> closing = LexInside(kind == '%');
        if (!closing.ok()) return closing.status();
        end_modifier = *closing;
      }
      // After the tag: "-" strips all whitespace; trim_blocks drops one
      // newline after a block or comment tag (not after {{ }}, not after +%}).
      size_t after_tag = pos_;
      strip_leading = end_modifier == '-';
      if (!strip_leading && kind != '{' && end_modifier != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
        ++pos_;
        ++line_;
      }
      // As Jinja2: the next text starts a line when what the tag consumed
      // ended with a newline.
      line_starting = pos_ > after_tag;
    }
    Emit(Token::Type::kEnd, "", line_);
    return std::move(tokens_);
  }

 private:
  // The next "{{", "{%" or "{#" at or after `from`.
  size_t FindTag(size_t from) const {
    while (true) {
      size_t at = src_.find('{', from);
      if (at == std::string::npos || at + 1 >= src_.size()) return std::string::npos;
      char next = src_[at + 1];
      if (next == '{' || next == '%' || next == '#') return at;
      from = at + 1;
    }
  }

  void Emit(Token::Type type, std::string value, int line) {
    if (type == Token::Type::kText && value.empty()) return;
    tokens_.push_back(Token{type, std::move(value), line});
  }

  // Tokens up to the closing "%}" / "}}"; returns the closing modifier
  // ('-', '+' or '\0').
  absl::StatusOr<char> LexInside(bool block) {
    int braces = 0;
    const char* close = block ? "%}" : "}}";
    while (true) {
      while (pos_ < src_.size() && (src_[pos_] == ' ' || src_[pos_] == '\t' || src_[pos_] == '\n')) {
        line_ += src_[pos_] == '\n';
        ++pos_;
      }
      if (pos_ >= src_.size()) return LexError(line_, block ? "block tag not closed with %}" : "{{ not closed with }}");
      if (braces == 0) {
        if (src_.compare(pos_, 2, close) == 0) {
          Emit(block ? Token::Type::kBlockEnd : Token::Type::kVariableEnd, close, line_);
          pos_ += 2;
          return '\0';
        }
        if ((src_[pos_] == '-' || (block && src_[pos_] == '+')) && src_.compare(pos_ + 1, 2, close) == 0) {
          char modifier = src_[pos_];
          Emit(block ? Token::Type::kBlockEnd : Token::Type::kVariableEnd, close, line_);
          pos_ += 3;
          return modifier;
        }
      }
      char c = src_[pos_];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t end = pos_;
        while (end < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) ++end;
        Emit(Token::Type::kName, src_.substr(pos_, end - pos_), line_);
        pos_ = end;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t end = pos_;
        while (end < src_.size() && std::isdigit(static_cast<unsigned char>(src_[end]))) ++end;
        bool is_float = false;
        if (end + 1 < src_.size() && src_[end] == '.' && std::isdigit(static_cast<unsigned char>(src_[end + 1]))) {
          is_float = true;
          ++end;
          while (end < src_.size() && std::isdigit(static_cast<unsigned char>(src_[end]))) ++end;
        }
        if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
          size_t e = end + 1;
          if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
          if (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) {
            is_float = true;
            end = e;
            while (end < src_.size() && std::isdigit(static_cast<unsigned char>(src_[end]))) ++end;
          }
        }
        Emit(is_float ? Token::Type::kFloat : Token::Type::kInteger, src_.substr(pos_, end - pos_), line_);
        pos_ = end;
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t end = pos_ + 1;
        while (end < src_.size() && src_[end] != c) {
          if (src_[end] == '\\') ++end;
          ++end;
        }
        if (end >= src_.size()) return LexError(line_, "string literal not closed");
        absl::string_view body = absl::string_view(src_).substr(pos_ + 1, end - pos_ - 1);
        absl::StatusOr<std::string> value = Unescape(body, line_);
        if (!value.ok()) return value.status();
        Emit(Token::Type::kString, *std::move(value), line_);
        line_ += CountNewlines(body);
        pos_ = end + 1;
        continue;
      }
      static constexpr const char* kTwoChar[] = {"//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (const char* op : kTwoChar) {
        if (src_.compare(pos_, 2, op) == 0) {
          Emit(Token::Type::kOperator, op, line_);
          pos_ += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (absl::string_view("+-*/%~[](){}<>=.:|,").find(c) != absl::string_view::npos) {
        if (c == '{' || c == '[' || c == '(') ++braces;
        if ((c == '}' || c == ']' || c == ')') && braces > 0) --braces;
        Emit(Token::Type::kOperator, std::string(1, c), line_);
        ++pos_;
        continue;
      }
      return LexError(line_, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source) { return Lexer(source).Run(); }

}  // namespace djinn::jinja
