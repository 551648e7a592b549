// A CPU backend (or a test's subclass of it) and an arena over memory it
// reserved, given back when the budget goes: what the engine tests load
// models into.
#ifndef DJINN_TESTS_UNIT_SUPPORT_ARENA_BUDGET_H_
#define DJINN_TESTS_UNIT_SUPPORT_ARENA_BUDGET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "daemon/memory/arena.h"
#include "gtest/gtest.h"

namespace djinn::testing {

template <typename BackendType>
struct ArenaBudget {
  // `backend_args` construct the backend.
  template <typename... Args>
  explicit ArenaBudget(uint64_t bytes, Args&&... backend_args)
      : backend(std::forward<Args>(backend_args)...), bytes(bytes) {
    absl::StatusOr<std::byte*> reserved = backend.ReserveArena(bytes);
    EXPECT_TRUE(reserved.ok()) << reserved.status();
    base = reserved.value_or(nullptr);
    arena = std::make_unique<Arena>(base, bytes);
  }
  ~ArenaBudget() {
    arena.reset();
    if (base != nullptr) backend.ReleaseArena(base, bytes);
  }
  ArenaBudget(const ArenaBudget&) = delete;
  ArenaBudget& operator=(const ArenaBudget&) = delete;

  BackendType backend;
  uint64_t bytes;
  std::byte* base = nullptr;
  std::unique_ptr<Arena> arena;
};

}  // namespace djinn::testing

#endif  // DJINN_TESTS_UNIT_SUPPORT_ARENA_BUDGET_H_
