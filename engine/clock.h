// clock.h: where the engine gets the time. The engine never reads the wall clock itself; it
// asks the Clock it was given, so tests and replays are deterministic.
//
//   spotflow::engine::SystemClock clock;  // production
//   absl::Time now = clock.Now();
//
// Implementations must be thread-safe.
#ifndef SPOTFLOW_ENGINE_CLOCK_H_
#define SPOTFLOW_ENGINE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace spotflow::engine {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
};

// The wall clock. The only place in engine/ that reads it.
class SystemClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
};

}  // namespace spotflow::engine

#endif  // SPOTFLOW_ENGINE_CLOCK_H_
