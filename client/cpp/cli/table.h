// Plain-text tables for terminals: every column padded to its widest cell,
// columns two spaces apart, no trailing spaces (output diffs and greps
// cleanly). Columns are left- or right-aligned (numbers read best right).
#ifndef DJINN_CLIENT_CPP_CLI_TABLE_H_
#define DJINN_CLIENT_CPP_CLI_TABLE_H_

#include <string>
#include <vector>

namespace djinn::client::cli {

class Table {
 public:
  enum class Align { kLeft, kRight };

  // aligns: one per header; missing entries are kLeft.
  explicit Table(std::vector<std::string> headers, std::vector<Align> aligns = {});

  // Missing cells are empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);

  // Header line, then one line per row, each prefixed by indent and ended by '\n'.
  std::string Render(const std::string& indent = "") const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> aligns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace djinn::client::cli

#endif  // DJINN_CLIENT_CPP_CLI_TABLE_H_
