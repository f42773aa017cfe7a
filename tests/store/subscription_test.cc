// Subscriptions: backlog, then live appends, with no gap and no duplicate; bounded memory.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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
using ::testing::SizeIs;

class SubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.sync = false;
    Open();
  }
  void Open() {
    auto store = EventStore::Open(options_, dir_.Sub("db"));
    ASSERT_OK(store.status());
    store_ = *std::move(store);
  }
  void AppendMany(const std::string& stream, int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_OK(
          store_->Append(OneStream(stream, ExpectedVersion::Any(), 1, absl::StrCat(i))).status());
    }
  }
  // Reads until `count` records came or `timeout` passed; checks every position is next.
  std::vector<EventRecord> Drain(Subscription& sub, uint64_t first, size_t count) {
    std::vector<EventRecord> out;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (out.size() < count && absl::Now() < deadline) {
      auto batch = sub.Next(100, absl::Milliseconds(100));
      EXPECT_OK(batch.status());
      if (!batch.ok()) break;
      for (EventRecord& r : *batch) {
        EXPECT_EQ(r.position(), first + out.size()) << "gap or duplicate";
        out.push_back(std::move(r));
      }
    }
    return out;
  }

  spotflow::testing::TempDir dir_;
  Options options_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(SubscriptionTest, DeliversBacklogThenLiveAppends) {
  AppendMany("order-1", 5);
  ASSERT_OK_AND_ASSIGN(auto sub, store_->Subscribe(3));
  auto backlog = Drain(*sub, 3, 3);
  ASSERT_THAT(backlog, SizeIs(3));
  EXPECT_EQ(sub->next_position(), 6u);
  AppendMany("order-2", 4);
  auto live = Drain(*sub, 6, 4);
  ASSERT_THAT(live, SizeIs(4));
  EXPECT_EQ(live[3].stream_id(), "order-2");
  EXPECT_FALSE(live[3].hash().empty());
}

TEST_F(SubscriptionTest, SwitchFromBacklogToLiveUnderConcurrentAppendsHasNoGapOrDuplicate) {
  AppendMany("warmup", 200);
  ASSERT_OK_AND_ASSIGN(auto sub, store_->Subscribe(1));
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 300;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] { AppendMany(absl::StrCat("writer-", w), kPerWriter); });
  }
  const size_t total = 200 + kWriters * kPerWriter;
  auto records = Drain(*sub, 1, total);
  for (auto& writer : writers) writer.join();
  EXPECT_THAT(records, SizeIs(total));
  auto more = sub->Next(10, absl::Milliseconds(20));
  ASSERT_OK(more.status());
  EXPECT_THAT(*more, SizeIs(0));
}

// A reader told where the log's head is knows whether records cut from one append are still to
// come: from the backlog (read from the store) and live (from the committing thread) alike.
TEST_F(SubscriptionTest, KnownHeadSaysWhetherAnAppendWasCut) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::Any(), 5)).status());
  ASSERT_OK_AND_ASSIGN(auto sub, store_->Subscribe(1));
  std::vector<uint64_t> lasts, heads;
  for (uint64_t next = 1; next <= 5;) {
    ASSERT_OK_AND_ASSIGN(auto records, sub->Next(2, absl::Seconds(10)));
    ASSERT_FALSE(records.empty());
    next = records.back().position() + 1;
    lasts.push_back(records.back().position());
    heads.push_back(sub->known_head());
  }
  EXPECT_EQ(lasts, (std::vector<uint64_t>{2, 4, 5}));
  EXPECT_EQ(heads, (std::vector<uint64_t>{5, 5, 5})) << "cut, cut, then whole";

  ASSERT_OK(store_->Append(OneStream("order-2", ExpectedVersion::Any(), 3)).status());
  ASSERT_OK_AND_ASSIGN(auto live, sub->Next(2, absl::Seconds(10)));
  ASSERT_THAT(live, SizeIs(2));
  EXPECT_EQ(live.back().position(), 7u);
  EXPECT_EQ(sub->known_head(), 8u) << "the live append's end";
  ASSERT_OK_AND_ASSIGN(auto rest, sub->Next(2, absl::Seconds(10)));
  ASSERT_THAT(rest, SizeIs(1));
  EXPECT_EQ(rest.back().position(), sub->known_head());
}

TEST_F(SubscriptionTest, SlowSubscriberPastItsBufferCatchesUpFromTheStore) {
  options_.subscription_buffer_events = 8;
  store_.reset();
  Open();
  ASSERT_OK_AND_ASSIGN(auto sub, store_->Subscribe(1));
  AppendMany("order-1", 100);  // Far past the buffer; appends never wait for the reader.
  auto records = Drain(*sub, 1, 100);
  EXPECT_THAT(records, SizeIs(100));
}

TEST_F(SubscriptionTest, NextTimesOutEmptyWhenNothingIsAppended) {
  ASSERT_OK_AND_ASSIGN(auto sub, store_->Subscribe(1));
  ASSERT_OK_AND_ASSIGN(auto none, sub->Next(10, absl::Milliseconds(10)));
  EXPECT_THAT(none, SizeIs(0));
}

TEST_F(SubscriptionTest, CloseWakesAWaitingReader) {
  ASSERT_OK_AND_ASSIGN(auto sub, store_->Subscribe(1));
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    sub->Close();
  });
  auto result = sub->Next(10, absl::Seconds(30));
  closer.join();
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kCancelled, HasSubstr("closed")));
}

TEST_F(SubscriptionTest, RejectsPositionsOutsideTheLog) {
  AppendMany("order-1", 2);
  EXPECT_THAT(store_->Subscribe(0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("position 1")));
  EXPECT_THAT(store_->Subscribe(5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("start at 3 at most")));
  ASSERT_OK_AND_ASSIGN(auto live_only, store_->Subscribe(3));
  AppendMany("order-2", 1);
  auto records = Drain(*live_only, 3, 1);
  ASSERT_THAT(records, SizeIs(1));
  EXPECT_EQ(records[0].stream_id(), "order-2");
}

}  // namespace
}  // namespace spotflow::store
