// executor.h: a fixed pool of threads with a bounded queue. gRPC reactions hand it the work
// that may wait (a query, a command the engine cannot decide at once, a live feed's step) and
// return at once; a full queue is refused, so callers can answer RESOURCE_EXHAUSTED instead
// of piling up memory. Thread-safe.
#ifndef SPOTFLOW_SERVICE_INTERNAL_EXECUTOR_H_
#define SPOTFLOW_SERVICE_INTERNAL_EXECUTOR_H_

#include <pthread.h>

#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace spotflow::service::internal {

class Executor {
 public:
  // `threads` workers; at most `max_pending` tasks waiting or running.
  Executor(int threads, size_t max_pending) : max_pending_(max_pending) {
    for (int i = 0; i < threads; ++i) {
      workers_.emplace_back([this] {
        pthread_setname_np(pthread_self(), "spotflow-worker");
        Work();
      });
    }
  }
  ~Executor() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& worker : workers_) worker.join();
  }
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`; false (and `task` dropped) when max_pending tasks are already in.
  bool TrySchedule(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    if (stopping_ || in_flight_ >= max_pending_) return false;
    ++in_flight_;
    tasks_.push_back(std::move(task));
    return true;
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Executor* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
              return e->stopping_ || !e->tasks_.empty();
            },
            this));
        if (tasks_.empty()) return;  // Stopping, and everything queued has run.
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
      absl::MutexLock lock(&mu_);
      --in_flight_;
    }
  }

  const size_t max_pending_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace spotflow::service::internal

#endif  // SPOTFLOW_SERVICE_INTERNAL_EXECUTOR_H_
