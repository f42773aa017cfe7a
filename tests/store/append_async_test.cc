// AppendAsync: the same group commits as Append, answered on the store's completion thread.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/event_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_helpers.h"
#include "tests/testing/temp_dir.h"

namespace spotflow::store {
namespace {

using ::spotflow::testing::OneStream;
using ::spotflow::testing::StatusIs;
using ::testing::HasSubstr;

std::unique_ptr<EventStore> OpenStore(const std::string& path, bool sync) {
  Options options;
  options.sync = sync;
  auto store = EventStore::Open(options, path);
  EXPECT_OK(store.status());
  return store.ok() ? *std::move(store) : nullptr;
}

// Waits for one AppendAsync's answer.
absl::StatusOr<AppendResult> AppendAndWait(EventStore* store, AppendRequest request) {
  absl::Notification done;
  absl::StatusOr<AppendResult> out;
  store->AppendAsync(std::move(request), [&](absl::StatusOr<AppendResult> result) {
    out = std::move(result);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

TEST(AppendAsyncTest, AnswersWhatAppendWouldAndKeepsTheChain) {
  spotflow::testing::TempDir dir;
  auto store = OpenStore(dir.Sub("db"), /*sync=*/true);
  ASSERT_OK_AND_ASSIGN(
      AppendResult first,
      AppendAndWait(store.get(), OneStream("order-1", ExpectedVersion::NoStream())));
  EXPECT_EQ(first.first_position, 1u);
  ASSERT_EQ(first.records.size(), 1u);
  EXPECT_EQ(first.records[0].hash(), store->Head().hash);
  ASSERT_OK(store->Append(OneStream("order-1", ExpectedVersion::Exactly(1))).status());
  // A stale expected version, an invalid request, a repeated key: as Append answers them.
  EXPECT_THAT(AppendAndWait(store.get(), OneStream("order-1", ExpectedVersion::Exactly(1))),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("order-1")));
  AppendRequest empty;
  EXPECT_THAT(AppendAndWait(store.get(), std::move(empty)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  AppendRequest keyed = OneStream("order-2", ExpectedVersion::Any());
  keyed.idempotency_key = "k";
  ASSERT_OK(AppendAndWait(store.get(), keyed).status());
  ASSERT_OK_AND_ASSIGN(AppendResult again, AppendAndWait(store.get(), keyed));
  EXPECT_TRUE(again.deduplicated);
  EXPECT_EQ(store->Head().position, 3u);
  ASSERT_OK_AND_ASSIGN(VerifyResult verified, store->Verify(1, 0));
  EXPECT_EQ(verified.records, 3u);
}

TEST(AppendAsyncTest, MixedWithAppendFromManyThreadsEveryVersionOnce) {
  spotflow::testing::TempDir dir;
  auto store = OpenStore(dir.Sub("db"), /*sync=*/true);
  constexpr int kThreads = 16;
  constexpr int kEach = 40;
  std::atomic<int> committed{0}, answered{0};
  absl::Mutex mu;
  std::vector<uint64_t> positions;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        AppendRequest request = OneStream(absl::StrCat("stream-", t % 4), ExpectedVersion::Any(), 1,
                                          absl::StrCat(t, "-", i));
        if (t % 2 == 0) {
          auto result = store->Append(std::move(request));
          EXPECT_OK(result.status());
          absl::MutexLock lock(&mu);
          positions.push_back(result->first_position);
          ++committed;
          ++answered;
        } else {
          store->AppendAsync(std::move(request), [&](absl::StatusOr<AppendResult> result) {
            EXPECT_OK(result.status());
            absl::MutexLock lock(&mu);
            if (result.ok()) positions.push_back(result->first_position);
            ++committed;
            ++answered;
          });
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  store.reset();  // Every callback has run once the store is gone.
  EXPECT_EQ(answered.load(), kThreads * kEach);
  std::sort(positions.begin(), positions.end());
  ASSERT_EQ(positions.size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < positions.size(); ++i) EXPECT_EQ(positions[i], i + 1);
  auto reopened = OpenStore(dir.Sub("db"), true);
  EXPECT_EQ(reopened->Head().position, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_OK(reopened->Verify(1, 0).status());
}

TEST(AppendAsyncTest, CallbacksRunInCommitOrderAndMayAppendAgain) {
  spotflow::testing::TempDir dir;
  auto store = OpenStore(dir.Sub("db"), /*sync=*/false);
  std::vector<uint64_t> order;  // Only the completion thread touches it.
  absl::Notification chained;
  for (int i = 0; i < 200; ++i) {
    store->AppendAsync(OneStream("s", ExpectedVersion::Any(), 1, absl::StrCat(i)),
                       [&, i](absl::StatusOr<AppendResult> result) {
                         ASSERT_OK(result.status());
                         order.push_back(result->first_position);
                         if (i == 199) {
                           // A callback may append again (an engine retry does).
                           store->AppendAsync(OneStream("s", ExpectedVersion::Any()),
                                              [&](absl::StatusOr<AppendResult> again) {
                                                EXPECT_OK(again.status());
                                                chained.Notify();
                                              });
                         }
                       });
  }
  chained.WaitForNotification();
  ASSERT_EQ(order.size(), 200u);
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i + 1);
  EXPECT_EQ(store->Head().position, 201u);
}

TEST(AppendAsyncTest, DestroyingTheStoreAnswersEverythingEvenAppendsMadeByAnswers) {
  spotflow::testing::TempDir dir;
  std::atomic<int> answered{0};
  {
    auto store = OpenStore(dir.Sub("db"), /*sync=*/true);
    EventStore* raw = store.get();
    for (int i = 0; i < 100; ++i) {
      raw->AppendAsync(OneStream("s", ExpectedVersion::Any(), 1, absl::StrCat(i)),
                       [&, raw, i](absl::StatusOr<AppendResult> result) {
                         EXPECT_OK(result.status());
                         ++answered;
                         // Each answer appends once more, while the store is being destroyed.
                         raw->AppendAsync(
                             OneStream("s", ExpectedVersion::Any(), 1, absl::StrCat("again", i)),
                             [&](absl::StatusOr<AppendResult> again) {
                               EXPECT_OK(again.status());
                               ++answered;
                             });
                       });
    }
  }  // Destroyed at once: every append commits and every answer runs first.
  EXPECT_EQ(answered.load(), 200);
  auto reopened = OpenStore(dir.Sub("db"), true);
  EXPECT_EQ(reopened->Head().position, 200u);
  EXPECT_OK(reopened->Verify(1, 0).status());
}

}  // namespace
}  // namespace spotflow::store
