// The name someone most likely meant, for "did you mean" hints in messages: the known name a
// few edits from what was typed.
#ifndef SPOTFLOW_BASE_NEAREST_H_
#define SPOTFLOW_BASE_NEAREST_H_

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace spotflow {

// Edits (insertions, deletions, substitutions) that turn `a` into `b`.
inline size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The one of `known` two edits or fewer from `typed` (the nearest, the first of equals); "" when
// none is, or when `typed` is one of them.
template <typename Names>
std::string Nearest(absl::string_view typed, const Names& known) {
  std::string best;
  size_t best_distance = 3;
  for (const auto& each : known) {
    const size_t distance = EditDistance(typed, each);
    if (distance < best_distance) {
      best = std::string(each);
      best_distance = distance;
    }
  }
  return best_distance == 0 ? "" : best;
}

// "; did you mean \"pre_approve\"?" for a name two edits or fewer from one of `known` (a typo);
// else "". Said before the list of names a message gives.
template <typename Names>
std::string DidYouMean(absl::string_view typed, const Names& known) {
  const std::string nearest = Nearest(typed, known);
  return nearest.empty() ? "" : "; did you mean \"" + nearest + "\"?";
}

}  // namespace spotflow

#endif  // SPOTFLOW_BASE_NEAREST_H_
