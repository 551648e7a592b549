#include "common/metrics/text_serializer.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace djinn::metrics {
namespace {

void AppendLabels(std::string* out, const Labels& labels, absl::string_view extra_name = {},
                  absl::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, name, "=\"", EscapeLabelValue(value), "\"");
  }
  // "le" goes last, where Prometheus' own clients put it.
  if (!extra_name.empty()) {
    if (!first) out->push_back(',');
    absl::StrAppend(out, extra_name, "=\"", extra_value, "\"");
  }
  out->push_back('}');
}

void AppendHistogram(std::string* out, const std::string& name, const MetricSnapshot& m) {
  const HistogramSnapshot& h = m.histogram;
  const std::string bucket = name + "_bucket";
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    out->append(bucket);
    AppendLabels(out, m.labels, "le", FormatValue(h.bounds[i]));
    absl::StrAppend(out, " ", h.cumulative[i], "\n");
  }
  out->append(bucket);
  AppendLabels(out, m.labels, "le", "+Inf");
  absl::StrAppend(out, " ", h.count, "\n");

  absl::StrAppend(out, name, "_sum");
  AppendLabels(out, m.labels);
  absl::StrAppend(out, " ", FormatValue(h.sum), "\n");
  absl::StrAppend(out, name, "_count");
  AppendLabels(out, m.labels);
  absl::StrAppend(out, " ", h.count, "\n");
}

}  // namespace

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return std::signbit(v) ? "-0" : "0";

  // Shortest round-trip digits, e.g. "-1.2345e+06", then laid out the way
  // Go's strconv.FormatFloat(v, 'g', -1, 64) does, so that our scrapes read
  // like every other exporter's: exponent form when the decimal exponent is
  // < -4 or >= 6 (Go decides with precision 6 for the shortest form), plain
  // decimal otherwise.
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  const absl::string_view sci(buf, result.ptr - buf);
  const size_t e = sci.find('e');
  absl::string_view mantissa = sci.substr(0, e);
  const int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());

  std::string out;
  if (!mantissa.empty() && mantissa[0] == '-') {
    out.push_back('-');
    mantissa.remove_prefix(1);
  }
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }

  if (exp < -4 || exp >= 6) {
    out.push_back(digits[0]);
    if (digits.size() > 1) absl::StrAppend(&out, ".", absl::string_view(digits).substr(1));
    out.push_back('e');
    out.push_back(exp < 0 ? '-' : '+');
    const int abs_exp = std::abs(exp);
    if (abs_exp < 10) out.push_back('0');
    absl::StrAppend(&out, abs_exp);
    return out;
  }
  if (exp >= 0) {
    const size_t int_digits = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_digits) {
      absl::StrAppend(&out, digits, std::string(int_digits - digits.size(), '0'));
    } else {
      absl::StrAppend(&out, absl::string_view(digits).substr(0, int_digits), ".",
                      absl::string_view(digits).substr(int_digits));
    }
    return out;
  }
  absl::StrAppend(&out, "0.", std::string(static_cast<size_t>(-exp - 1), '0'), digits);
  return out;
}

namespace {

// Backslash and newline are escaped everywhere; double quotes only inside
// label values (the exposition format's two escaping rules).
std::string Escape(absl::string_view text, bool escape_quotes) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '"' && escape_quotes) {
      out.append("\\\"");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) { return Escape(value, /*escape_quotes=*/true); }

std::string EscapeHelp(absl::string_view help) { return Escape(help, /*escape_quotes=*/false); }

std::string SerializeText(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const FamilySnapshot& family : families) {
    if (family.metrics.empty()) continue;
    if (!family.help.empty()) {
      absl::StrAppend(&out, "# HELP ", family.name, " ", EscapeHelp(family.help), "\n");
    }
    absl::StrAppend(&out, "# TYPE ", family.name, " ", MetricTypeName(family.type), "\n");
    for (const MetricSnapshot& m : family.metrics) {
      if (family.type == MetricType::kHistogram) {
        AppendHistogram(&out, family.name, m);
        continue;
      }
      out.append(family.name);
      AppendLabels(&out, m.labels);
      absl::StrAppend(&out, " ", FormatValue(m.value), "\n");
    }
  }
  return out;
}

std::string SerializeText(Registry& registry) { return SerializeText(registry.Collect()); }

}  // namespace djinn::metrics
