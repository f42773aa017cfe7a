// ids.h: where the engine gets new identifiers (orders, clients, events, ...). The engine never
// draws random numbers itself; it asks the IdGenerator it was given.
//
//   spotflow::engine::RandomIdGenerator ids;      // production: 128 random bits, hex
//   spotflow::engine::SequentialIdGenerator seq;  // tests: "id-1", "id-2", ...
//
// Implementations must be thread-safe.
#ifndef SPOTFLOW_ENGINE_IDS_H_
#define SPOTFLOW_ENGINE_IDS_H_

#include <cstdint>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace spotflow::engine {

class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // A new identifier, never returned before by this generator: [A-Za-z0-9_-], at most 64
  // characters.
  virtual std::string NewId() = 0;
};

// 128 bits from a generator seeded by std::random_device, as 32 hex digits.
class RandomIdGenerator final : public IdGenerator {
 public:
  RandomIdGenerator() {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       device(), device(), device(), device()};
    engine_.seed(seed);
  }
  std::string NewId() override {
    absl::MutexLock lock(&mu_);
    const uint64_t high = engine_();
    const uint64_t low = engine_();
    return absl::StrCat(absl::Hex(high, absl::kZeroPad16), absl::Hex(low, absl::kZeroPad16));
  }

 private:
  absl::Mutex mu_;
  std::mt19937_64 engine_ ABSL_GUARDED_BY(mu_);
};

// "<prefix>1", "<prefix>2", ...: readable, deterministic ids for tests and examples.
class SequentialIdGenerator final : public IdGenerator {
 public:
  explicit SequentialIdGenerator(std::string prefix = "id-") : prefix_(std::move(prefix)) {}
  std::string NewId() override {
    absl::MutexLock lock(&mu_);
    return absl::StrCat(prefix_, ++next_);
  }

 private:
  const std::string prefix_;
  absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace spotflow::engine

#endif  // SPOTFLOW_ENGINE_IDS_H_
