// gated_store.h: an EventStore that forwards to another, but holds the asynchronous appends
// that write one stream while its gate is closed, so that a test can keep a command's append
// in flight, run another meanwhile, and see whether it reached the store. Appends that only
// read the stream (AppendRequest::reads) are not held. Thread-safe if the wrapped store is.
#ifndef SPOTFLOW_TESTS_TESTING_GATED_STORE_H_
#define SPOTFLOW_TESTS_TESTING_GATED_STORE_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tests/testing/forwarding_store.h"

namespace spotflow::testing {

class GatedStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  ~GatedStore() override { Open(); }

  // Holds each AppendAsync that writes `stream_id` until Open().
  void Close(std::string stream_id) {
    absl::MutexLock lock(&mu_);
    closed_on_ = std::move(stream_id);
  }

  // Hands the appends held on to the wrapped store, in the order they came (those that come
  // meanwhile queue behind them), and lets the next ones through.
  void Open() {
    for (;;) {
      std::vector<std::pair<store::AppendRequest, AppendCallback>> held;
      {
        absl::MutexLock lock(&mu_);
        closed_on_.clear();
        draining_ = !held_.empty();
        if (!draining_) return;
        held.swap(held_);
      }
      for (auto& [request, done] : held) inner_->AppendAsync(std::move(request), std::move(done));
    }
  }

  // The asynchronous appends it was given, held or not.
  size_t appends() const {
    absl::MutexLock lock(&mu_);
    return appends_;
  }

  void AppendAsync(store::AppendRequest request, AppendCallback done) override {
    {
      absl::MutexLock lock(&mu_);
      ++appends_;
      if (draining_ || (!closed_on_.empty() && Writes(request, closed_on_))) {
        held_.emplace_back(std::move(request), std::move(done));
        return;
      }
    }
    inner_->AppendAsync(std::move(request), std::move(done));
  }

 private:
  static bool Writes(const store::AppendRequest& request, const std::string& stream_id) {
    for (const auto& stream : request.streams) {
      if (stream.stream_id == stream_id) return true;
    }
    return false;
  }

  mutable absl::Mutex mu_;
  std::string closed_on_ ABSL_GUARDED_BY(mu_);  // Empty: open.
  bool draining_ ABSL_GUARDED_BY(mu_) = false;  // Open() is handing held appends on.
  size_t appends_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<store::AppendRequest, AppendCallback>> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spotflow::testing

#endif  // SPOTFLOW_TESTS_TESTING_GATED_STORE_H_
