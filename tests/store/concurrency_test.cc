// Many writers at once: optimistic concurrency on one stream, and group commit across
// streams.
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/event_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_helpers.h"
#include "tests/testing/temp_dir.h"

namespace spotflow::store {
namespace {

using ::spotflow::testing::OneStream;

TEST(ConcurrencyTest, OneWinnerPerVersionAndNoLostUpdateOnOneStream) {
  spotflow::testing::TempDir dir;
  Options options;
  options.sync = false;
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(options, dir.Sub("db")));

  constexpr int kThreads = 8;
  constexpr int kIncrementsPerThread = 50;
  std::atomic<int> aborted{0};
  absl::Mutex mu;
  std::vector<std::string> winners_by_version(kThreads * kIncrementsPerThread + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int done = 0; done < kIncrementsPerThread;) {
        // Read-decide-append, as the engine does: retry on a stale version.
        absl::StatusOr<uint64_t> version = store->StreamVersion("counter");
        ASSERT_OK(version.status());
        const std::string tag = absl::StrCat("t", t, "-", done, "-");
        absl::StatusOr<AppendResult> result =
            store->Append(OneStream("counter", ExpectedVersion::Exactly(*version), 1, tag));
        if (result.ok()) {
          absl::MutexLock lock(&mu);
          EXPECT_EQ(result->streams[0].last_version, *version + 1);
          EXPECT_TRUE(winners_by_version[*version + 1].empty()) << "two winners for a version";
          winners_by_version[*version + 1] = tag;
          ++done;
        } else {
          ASSERT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
          aborted.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  ASSERT_OK_AND_ASSIGN(auto events, store->ReadStream("counter", 1, Direction::kForward, 100000));
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kIncrementsPerThread));
  std::set<std::string> payloads;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].stream_version(), i + 1);
    EXPECT_EQ(events[i].payload(), absl::StrCat("counter/", winners_by_version[i + 1], "0"));
    payloads.insert(events[i].payload());
  }
  EXPECT_EQ(payloads.size(), events.size()) << "an update was lost or duplicated";
  EXPECT_GT(aborted.load(), 0) << "the test did not exercise any conflict";
}

TEST(ConcurrencyTest, DurableAppendsFromManyThreadsAreGroupCommittedDensely) {
  spotflow::testing::TempDir dir;
  Options options;  // sync on: the group commit path
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(options, dir.Sub("db")));
  constexpr int kThreads = 16;
  constexpr int kAppends = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        ASSERT_OK(store->Append(OneStream(absl::StrCat("stream-", t), ExpectedVersion::Exactly(i)))
                      .status());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(store->Head().position, static_cast<uint64_t>(kThreads * kAppends));
  ASSERT_OK_AND_ASSIGN(VerifyResult verified, store->Verify(1, 0));
  EXPECT_EQ(verified.records, static_cast<uint64_t>(kThreads * kAppends));
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_OK_AND_ASSIGN(uint64_t version, store->StreamVersion(absl::StrCat("stream-", t)));
    EXPECT_EQ(version, static_cast<uint64_t>(kAppends));
  }
}

TEST(ConcurrencyTest, ConcurrentRepeatsOfOneKeyWriteOnce) {
  spotflow::testing::TempDir dir;
  Options options;
  options.sync = false;
  ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(options, dir.Sub("db")));
  AppendRequest request = OneStream("order-1", ExpectedVersion::Any(), 3);
  request.idempotency_key = "same-key";
  std::atomic<int> deduplicated{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      ASSERT_OK_AND_ASSIGN(AppendResult result, store->Append(request));
      EXPECT_EQ(result.first_position, 1u);
      EXPECT_EQ(result.last_position, 3u);
      if (result.deduplicated) deduplicated.fetch_add(1);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(deduplicated.load(), 7);
  EXPECT_EQ(store->Head().position, 3u);
}

}  // namespace
}  // namespace spotflow::store
