// forwarding_store.h: an EventStore that forwards every call to another, for test stores
// that watch or change a few calls (CountingStore, GatedStore) to derive from. Thread-safe if
// the wrapped store is.
#ifndef SPOTFLOW_TESTS_TESTING_FORWARDING_STORE_H_
#define SPOTFLOW_TESTS_TESTING_FORWARDING_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/event_store.h"

namespace spotflow::testing {

class ForwardingStore : public store::EventStore {
 public:
  explicit ForwardingStore(store::EventStore* inner) : inner_(inner) {}

  absl::StatusOr<store::AppendResult> Append(store::AppendRequest request) override {
    return inner_->Append(std::move(request));
  }
  void AppendAsync(store::AppendRequest request, AppendCallback done) override {
    inner_->AppendAsync(std::move(request), std::move(done));
  }
  absl::StatusOr<std::vector<store::EventRecord>> ReadStream(absl::string_view stream_id,
                                                             uint64_t from_version,
                                                             store::Direction direction,
                                                             size_t limit) const override {
    return inner_->ReadStream(stream_id, from_version, direction, limit);
  }
  absl::StatusOr<std::vector<store::EventRecord>> ReadAll(uint64_t from_position,
                                                          size_t limit) const override {
    return inner_->ReadAll(from_position, limit);
  }
  absl::Status ScanAll(
      uint64_t from_position, uint64_t to_position,
      const std::function<absl::Status(const store::EventRecord&)>& visit) const override {
    return inner_->ScanAll(from_position, to_position, visit);
  }
  absl::StatusOr<uint64_t> StreamVersion(absl::string_view stream_id) const override {
    return inner_->StreamVersion(stream_id);
  }
  store::LogHead Head() const override { return inner_->Head(); }
  absl::StatusOr<store::VerifyResult> VerifyEach(uint64_t from, uint64_t to,
                                                 const VerifyVisitor& visit) const override {
    return inner_->VerifyEach(from, to, visit);
  }
  absl::StatusOr<std::unique_ptr<store::Subscription>> Subscribe(uint64_t from) override {
    return inner_->Subscribe(from);
  }
  absl::Status SaveCheckpoint(absl::string_view name, uint64_t position) override {
    return inner_->SaveCheckpoint(name, position);
  }
  absl::StatusOr<uint64_t> LoadCheckpoint(absl::string_view name) const override {
    return inner_->LoadCheckpoint(name);
  }
  absl::StatusOr<std::optional<store::AppendResult>> FindIdempotent(
      absl::string_view key) const override {
    return inner_->FindIdempotent(key);
  }

 protected:
  store::EventStore* const inner_;
};

}  // namespace spotflow::testing

#endif  // SPOTFLOW_TESTS_TESTING_FORWARDING_STORE_H_
