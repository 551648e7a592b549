#include "client/cpp/cli/model_view.h"

#include "absl/strings/str_cat.h"
#include "client/cpp/cli/format.h"
#include "client/cpp/cli/table.h"

namespace djinn::client::cli {

std::string DescribeModel(const v1::ModelDescription& model) {
  std::string dtype = DTypeName(model.dtype());
  if (model.compute_dtype() != v1::DTYPE_UNSPECIFIED &&
      model.compute_dtype() != model.dtype()) {
    absl::StrAppend(&dtype, " (computed as ", DTypeName(model.compute_dtype()), ")");
  }
  std::string line = absl::StrCat(
      model.name(), ": ", model.architecture().empty() ? "-" : model.architecture(),
      ", ", HumanCount(model.parameters()), " params, ", dtype, ", ",
      HumanBytes(model.weight_bytes()), " weights, context ", model.context_length());
  if (model.max_sequences() > 0) {
    absl::StrAppend(&line, ", ", model.max_sequences(), " sequences");
  }
  return line;
}

std::string RenderModelTable(const v1::ListModelsResponse& models) {
  using Align = Table::Align;
  Table table({"NAME", "STATE", "ARCH", "PARAMS", "DTYPE", "WEIGHTS", "CONTEXT"},
              {Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kLeft,
               Align::kRight, Align::kRight});
  for (const auto& model : models.models()) {
    table.AddRow({model.name(), ModelStateName(model.state()),
                  model.architecture().empty() ? "-" : model.architecture(),
                  HumanCount(model.parameters()), DTypeName(model.dtype()),
                  HumanBytes(model.weight_bytes()), absl::StrCat(model.context_length())});
  }
  return table.Render();
}

}  // namespace djinn::client::cli
