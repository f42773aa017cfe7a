// bench_util.h: what every Spotflow benchmark shares: the BENCH line, medians of alternating
// runs, scratch directories and incompressible payloads. Not thread-safe unless stated.
//
//   BENCH <name> value=<v> unit=<unit> limit=<limit name> limit_value=<v> ratio=<value/limit>
#ifndef SPOTFLOW_BENCHMARKS_BENCH_UTIL_H_
#define SPOTFLOW_BENCHMARKS_BENCH_UTIL_H_

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace spotflow::bench {

struct Config {
  bool quick = false;
  std::string only;  // Run only the figures whose name starts with this.
  int repetitions() const { return quick ? 1 : 5; }
  bool Wants(const std::string& name) const {
    return only.empty() || name.rfind(only, 0) == 0 || only.rfind(name, 0) == 0;
  }
};

// Parses --quick and --only=PREFIX; exits with usage on anything else.
inline Config ParseFlags(int argc, char** argv, const char* program) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      config.quick = true;
    } else if (arg.rfind("--only=", 0) == 0) {
      config.only = arg.substr(7);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--only=NAME_PREFIX]\n", program);
      std::exit(2);
    }
  }
  return config;
}

inline double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "benchmark: %s\n", what.c_str());
  std::exit(1);
}

inline void Check(const absl::Status& status) {
  if (!status.ok()) Die(status.ToString());
}

inline double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline void Report(const std::string& name, double value, const std::string& unit,
                   const std::string& limit_name, double limit) {
  std::printf("BENCH %s value=%.0f unit=%s limit=%s limit_value=%.0f ratio=%.3f\n", name.c_str(),
              value, unit.c_str(), limit_name.c_str(), limit, limit > 0 ? value / limit : 0.0);
  std::fflush(stdout);
}

// Runs `run` and `limit_run` (each returning a rate) alternately, reports the medians, so a
// noisy neighbour on the shared machine hurts both sides alike.
inline void Compare(const Config& config, const std::string& name, const std::string& unit,
                    const std::string& limit_name, const std::function<double()>& run,
                    const std::function<double()>& limit_run) {
  if (!config.Wants(name)) return;
  std::vector<double> rates, limits;
  for (int i = 0; i < config.repetitions(); ++i) {
    limits.push_back(limit_run());
    rates.push_back(run());
  }
  Report(name, Median(rates), unit, limit_name, Median(limits));
}

// A scratch directory, removed afterwards.
class Scratch {
 public:
  Scratch() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "spotflow-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed");
    path_ = pattern;
  }
  ~Scratch() { std::filesystem::remove_all(path_); }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Distinct incompressible payloads of `bytes` bytes: repeated bytes compress and flatter.
class Payloads {
 public:
  explicit Payloads(uint64_t seed, size_t bytes = 256) : random_(seed), bytes_(bytes) {}
  std::string Next() {
    std::string out(bytes_, '\0');
    for (size_t i = 0; i < out.size(); i += 8) {
      const uint64_t word = random_();
      std::memcpy(out.data() + i, &word, std::min<size_t>(8, out.size() - i));
    }
    return out;
  }

 private:
  std::mt19937_64 random_;
  size_t bytes_;
};

// Incompressible text for string fields (which must be UTF-8): base64 of random bytes.
class TextPayloads {
 public:
  explicit TextPayloads(uint64_t seed, size_t raw_bytes = 96) : bytes_(seed, raw_bytes) {}
  std::string Next() { return absl::Base64Escape(bytes_.Next()); }

 private:
  Payloads bytes_;
};

}  // namespace spotflow::bench

#endif  // SPOTFLOW_BENCHMARKS_BENCH_UTIL_H_
