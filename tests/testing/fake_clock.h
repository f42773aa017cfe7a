// fake_clock.h: a Clock tests set and advance by hand. Thread-safe.
#ifndef SPOTFLOW_TESTS_TESTING_FAKE_CLOCK_H_
#define SPOTFLOW_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "engine/clock.h"

namespace spotflow::testing {

class FakeClock final : public engine::Clock {
 public:
  // 2026-11-23 09:00 UTC unless told otherwise.
  explicit FakeClock(absl::Time start = absl::FromCivil(absl::CivilMinute(2026, 11, 23, 9, 0),
                                                        absl::UTCTimeZone()))
      : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spotflow::testing

#endif  // SPOTFLOW_TESTS_TESTING_FAKE_CLOCK_H_
