// counting_store.h: an EventStore that forwards to another and counts the records ScanAll
// visits, so a test can tell how much of the log a reader replayed. Thread-safe if the
// wrapped store is.
#ifndef SPOTFLOW_TESTS_TESTING_COUNTING_STORE_H_
#define SPOTFLOW_TESTS_TESTING_COUNTING_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "tests/testing/forwarding_store.h"

namespace spotflow::testing {

class CountingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  uint64_t scanned() const { return scanned_.load(); }

  absl::Status ScanAll(
      uint64_t from_position, uint64_t to_position,
      const std::function<absl::Status(const store::EventRecord&)>& visit) const override {
    return inner_->ScanAll(from_position, to_position, [&](const store::EventRecord& record) {
      ++scanned_;
      return visit(record);
    });
  }

 private:
  mutable std::atomic<uint64_t> scanned_{0};
};

}  // namespace spotflow::testing

#endif  // SPOTFLOW_TESTS_TESTING_COUNTING_STORE_H_
