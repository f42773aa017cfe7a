// status_macros.h: RETURN_IF_ERROR and ASSIGN_OR_RETURN, which Debian 12's Abseil
// (20220623) does not ship.
//
//   absl::Status Save(Store& store) {
//     RETURN_IF_ERROR(store.Flush());
//     ASSIGN_OR_RETURN(uint64_t head, store.HeadPosition());
//     ...
//   }
//
// Both evaluate their argument once. Thread-safe as the expressions they wrap.
#ifndef SPOTFLOW_BASE_STATUS_MACROS_H_
#define SPOTFLOW_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function with the status of `expr` when it is not OK.
#define RETURN_IF_ERROR(expr)                             \
  do {                                                    \
    ::absl::Status spotflow_status_macro_status = (expr); \
    if (!spotflow_status_macro_status.ok()) {             \
      return spotflow_status_macro_status;                \
    }                                                     \
  } while (false)

#define SPOTFLOW_STATUS_MACROS_CONCAT_INNER(a, b) a##b
#define SPOTFLOW_STATUS_MACROS_CONCAT(a, b) SPOTFLOW_STATUS_MACROS_CONCAT_INNER(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from the enclosing
// function, otherwise moves the value into `lhs`, which may be a declaration.
#define ASSIGN_OR_RETURN(lhs, rexpr)                                                               \
  SPOTFLOW_ASSIGN_OR_RETURN_IMPL(SPOTFLOW_STATUS_MACROS_CONCAT(spotflow_statusor_, __LINE__), lhs, \
                                 rexpr)

#define SPOTFLOW_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) {                                      \
    return std::move(statusor).status();                     \
  }                                                          \
  lhs = *std::move(statusor)

#endif  // SPOTFLOW_BASE_STATUS_MACROS_H_
