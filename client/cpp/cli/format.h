// Short human-readable renderings of numbers and API enums, for djinnctl and
// any other front-end that shows djinnd's messages to people:
// bytes "1.5 GiB", counts "1.1B", durations "120.0 ms", percentages.
#ifndef DJINN_CLIENT_CPP_CLI_FORMAT_H_
#define DJINN_CLIENT_CPP_CLI_FORMAT_H_

#include <cstdint>
#include <string>

#include "djinn/v1/djinn.pb.h"

namespace djinn::client::cli {

// Binary units, one decimal: "0 B", "512 B", "1.0 KiB", "1.5 GiB".
std::string HumanBytes(uint64_t bytes);

// "done/total unit" in the unit of total: "1.2/2.6 GiB", "512/1024 B".
std::string HumanBytesOf(uint64_t done, uint64_t total);

// Decimal suffixes, one decimal: "512", "4.6K", "124.4M", "1.1B", "1.0T".
std::string HumanCount(uint64_t count);

// "850 us", "120.0 ms", "1.23 s", "4m 05s", "2h 03m 04s".
std::string HumanDuration(double seconds);

// part/whole as "45.0%"; "-" when whole is 0.
std::string Percent(uint64_t part, uint64_t whole);

// Lowercase names; "-" for the UNSPECIFIED values.
std::string DTypeName(v1::DType dtype);
std::string ModelStateName(v1::ModelState state);
std::string FinishReasonName(v1::FinishReason reason);
std::string PhaseName(v1::LoadModelProgress::Phase phase);  // "loading weights"

}  // namespace djinn::client::cli

#endif  // DJINN_CLIENT_CPP_CLI_FORMAT_H_
