// Behaviours of EventStore: appends, expected versions, idempotency, reads, checkpoints,
// options and open errors.
#include "store/event_store.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/internal/rocksdb_status.h"
#include "store/internal/sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_helpers.h"
#include "tests/testing/temp_dir.h"

namespace spotflow::store {
namespace {

using ::spotflow::testing::MakeEvent;
using ::spotflow::testing::OneStream;
using ::spotflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

class EventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    auto store = EventStore::Open(options_, dir_.Sub("db"));
    ASSERT_OK(store.status());
    store_ = *std::move(store);
  }

  // Asserts that `store_` holds exactly `positions` records and nothing changed since.
  void ExpectHead(uint64_t position) { EXPECT_EQ(store_->Head().position, position); }

  std::vector<uint64_t> Versions(const std::string& stream) {
    auto records = store_->ReadStream(stream, 1, Direction::kForward, 1000);
    EXPECT_OK(records.status());
    std::vector<uint64_t> versions;
    if (records.ok()) {
      for (const EventRecord& r : *records) versions.push_back(r.stream_version());
    }
    return versions;
  }

  spotflow::testing::TempDir dir_;
  Options options_ = [] {
    Options options;
    options.sync = false;  // Durability has its own crash test; keep these fast.
    return options;
  }();
  std::unique_ptr<EventStore> store_;
};

TEST_F(EventStoreTest, NewStoreIsEmpty) {
  LogHead head = store_->Head();
  EXPECT_EQ(head.position, 0u);
  EXPECT_EQ(head.hash, std::string(32, '\0'));
  ASSERT_OK_AND_ASSIGN(auto all, store_->ReadAll(1, 10));
  EXPECT_THAT(all, SizeIs(0));
  ASSERT_OK_AND_ASSIGN(uint64_t version, store_->StreamVersion("order-1"));
  EXPECT_EQ(version, 0u);
}

TEST_F(EventStoreTest, AppendAssignsDensePositionsAndVersions) {
  ASSERT_OK_AND_ASSIGN(AppendResult first,
                       store_->Append(OneStream("order-1", ExpectedVersion::NoStream(), 3)));
  EXPECT_EQ(first.first_position, 1u);
  EXPECT_EQ(first.last_position, 3u);
  ASSERT_THAT(first.streams, SizeIs(1));
  EXPECT_EQ(first.streams[0].first_version, 1u);
  EXPECT_EQ(first.streams[0].last_version, 3u);
  EXPECT_FALSE(first.deduplicated);

  ASSERT_OK_AND_ASSIGN(AppendResult second,
                       store_->Append(OneStream("order-2", ExpectedVersion::Any(), 2)));
  EXPECT_EQ(second.first_position, 4u);
  EXPECT_EQ(second.last_position, 5u);
  EXPECT_EQ(second.streams[0].first_version, 1u);

  ASSERT_OK_AND_ASSIGN(AppendResult third,
                       store_->Append(OneStream("order-1", ExpectedVersion::Exactly(3))));
  EXPECT_EQ(third.first_position, 6u);
  EXPECT_EQ(third.streams[0].first_version, 4u);

  ASSERT_OK_AND_ASSIGN(auto all, store_->ReadAll(1, 100));
  ASSERT_THAT(all, SizeIs(6));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].position(), i + 1);
  EXPECT_EQ(all[5].stream_id(), "order-1");
  EXPECT_EQ(all[5].stream_version(), 4u);
  EXPECT_THAT(Versions("order-1"), ElementsAre(1, 2, 3, 4));
  ExpectHead(6);
}

TEST_F(EventStoreTest, StoredRecordKeepsCallerFieldsAndChainsHashes) {
  AppendRequest request = OneStream("order-1", ExpectedVersion::NoStream(), 2);
  request.streams[0].events[0].set_correlation_id("corr-1");
  request.streams[0].events[0].set_causation_id("cmd-1");
  request.streams[0].events[0].mutable_actor()->add_roles("ae");
  request.streams[0].events[0].mutable_actor()->set_on_behalf_of("client-contact-7");
  request.streams[0].events[0].mutable_recorded_time()->set_seconds(1'790'000'000);
  request.idempotency_key = "req-1";
  ASSERT_OK(store_->Append(std::move(request)).status());

  ASSERT_OK_AND_ASSIGN(auto all, store_->ReadAll(1, 10));
  ASSERT_THAT(all, SizeIs(2));
  const EventRecord& r = all[0];
  EXPECT_EQ(r.event_id(), "evt-order-1/e0");
  EXPECT_EQ(r.correlation_id(), "corr-1");
  EXPECT_EQ(r.causation_id(), "cmd-1");
  EXPECT_THAT(r.actor().roles(), ElementsAre("ae"));
  EXPECT_EQ(r.actor().on_behalf_of(), "client-contact-7");
  EXPECT_EQ(r.recorded_time().seconds(), 1'790'000'000);
  EXPECT_EQ(r.idempotency_key(), "req-1");
  EXPECT_EQ(r.schema_version(), 1u);
  EXPECT_EQ(r.payload(), "order-1/e0");

  // hash = SHA-256(previous hash || record bytes without the hash).
  EXPECT_EQ(r.previous_hash(), std::string(32, '\0'));
  EventRecord without_hash = r;
  without_hash.clear_hash();
  EXPECT_EQ(r.hash(), internal::ChainHash(r.previous_hash(), without_hash.SerializeAsString()));
  EXPECT_EQ(all[1].previous_hash(), r.hash());
  EXPECT_EQ(store_->Head().hash, all[1].hash());
}

TEST_F(EventStoreTest, RejectsStaleExpectedVersionNamingStreamAndVersions) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream(), 2)).status());
  EXPECT_THAT(
      store_->Append(OneStream("order-1", ExpectedVersion::Exactly(1))),
      StatusIs(absl::StatusCode::kAborted,
               AllOf(HasSubstr("order-1"), HasSubstr("version 2"), HasSubstr("expected 1"))));
  EXPECT_THAT(store_->Append(OneStream("order-1", ExpectedVersion::NoStream())),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("no stream")));
  EXPECT_THAT(store_->Append(OneStream("order-9", ExpectedVersion::Exactly(4))),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("version 0")));
  ExpectHead(2);
  EXPECT_THAT(Versions("order-1"), ElementsAre(1, 2));
  EXPECT_THAT(Versions("order-9"), ElementsAre());
}

TEST_F(EventStoreTest, MultiStreamAppendCommitsAtomically) {
  AppendRequest request;
  for (const char* id : {"client-1", "order-1", "order-2"}) {
    StreamAppend& s = request.streams.emplace_back();
    s.stream_id = id;
    s.expected = ExpectedVersion::NoStream();
    s.events = {MakeEvent(absl::StrCat(id, "-a")), MakeEvent(absl::StrCat(id, "-b"))};
  }
  ASSERT_OK_AND_ASSIGN(AppendResult result, store_->Append(std::move(request)));
  EXPECT_EQ(result.first_position, 1u);
  EXPECT_EQ(result.last_position, 6u);
  ASSERT_THAT(result.streams, SizeIs(3));
  EXPECT_EQ(result.streams[2].stream_id, "order-2");
  EXPECT_EQ(result.streams[2].last_version, 2u);
  EXPECT_THAT(Versions("order-2"), ElementsAre(1, 2));
}

TEST_F(EventStoreTest, AppendReturnsTheCommittedRecordsAsStored) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream())).status());
  AppendRequest request = OneStream("order-1", ExpectedVersion::Exactly(1), 2);
  request.streams.push_back(OneStream("client-1", ExpectedVersion::NoStream()).streams[0]);
  ASSERT_OK_AND_ASSIGN(AppendResult result, store_->Append(std::move(request)));
  ASSERT_OK_AND_ASSIGN(std::vector<EventRecord> stored, store_->ReadAll(2, 10));
  ASSERT_THAT(result.records, SizeIs(3));
  ASSERT_THAT(stored, SizeIs(3));
  for (size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(result.records[i].SerializeAsString(), stored[i].SerializeAsString()) << i;
  }
  EXPECT_EQ(result.records[2].stream_id(), "client-1");
  EXPECT_EQ(result.records[2].position(), 4u);
}

TEST_F(EventStoreTest, OneStaleStreamFailsTheWholeMultiStreamAppend) {
  ASSERT_OK(store_->Append(OneStream("order-2", ExpectedVersion::NoStream())).status());
  AppendRequest request;
  request.streams.push_back(OneStream("order-1", ExpectedVersion::NoStream()).streams[0]);
  request.streams.push_back(OneStream("order-2", ExpectedVersion::NoStream()).streams[0]);
  request.streams.push_back(OneStream("order-3", ExpectedVersion::Any()).streams[0]);
  EXPECT_THAT(store_->Append(std::move(request)),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("order-2")));
  ExpectHead(1);
  EXPECT_THAT(Versions("order-1"), ElementsAre());
  EXPECT_THAT(Versions("order-3"), ElementsAre());
  ASSERT_OK_AND_ASSIGN(uint64_t version, store_->StreamVersion("order-1"));
  EXPECT_EQ(version, 0u);
}

TEST_F(EventStoreTest, AStreamReadHasChangedAbortsTheAppendAndWritesNothing) {
  ASSERT_OK(store_->Append(OneStream("client-1", ExpectedVersion::NoStream(), 2)).status());
  // Decided on client-1 at version 2: commits while it is.
  AppendRequest request = OneStream("order-1", ExpectedVersion::NoStream());
  request.reads.push_back({"client-1", 2});
  request.reads.push_back({"client-9", 0});  // Read as empty, still empty.
  ASSERT_OK(store_->Append(request).status());
  ExpectHead(3);
  EXPECT_THAT(Versions("client-1"), ElementsAre(1, 2)) << "a stream read is not written";
  // Once it moved on, the same decision is stale.
  ASSERT_OK(store_->Append(OneStream("client-1", ExpectedVersion::Exactly(2))).status());
  AppendRequest stale = OneStream("order-1", ExpectedVersion::Exactly(1));
  stale.reads.push_back({"client-1", 2});
  EXPECT_THAT(store_->Append(stale), StatusIs(absl::StatusCode::kAborted,
                                              AllOf(HasSubstr("client-1"), HasSubstr("version 3"),
                                                    HasSubstr("read it at 2"))));
  ExpectHead(4);
  EXPECT_THAT(Versions("order-1"), ElementsAre(1));
  // A stream is read or written, not both; and read once.
  AppendRequest both = OneStream("order-1", ExpectedVersion::Exactly(1));
  both.reads.push_back({"order-1", 1});
  EXPECT_THAT(store_->Append(both),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("named twice")));
  AppendRequest twice = OneStream("order-1", ExpectedVersion::Exactly(1));
  twice.reads.push_back({"client-1", 3});
  twice.reads.push_back({"client-1", 3});
  EXPECT_THAT(store_->Append(twice), StatusIs(absl::StatusCode::kInvalidArgument));
  AppendRequest bad = OneStream("order-1", ExpectedVersion::Exactly(1));
  bad.reads.push_back({"", 0});
  EXPECT_THAT(store_->Append(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  ExpectHead(4);
}

TEST_F(EventStoreTest, AReadSeesTheWritesOfEveryEarlierAppend) {
  // The second read client-1 before the first wrote it, whether or not they commit together.
  absl::Status first, second;
  AppendRequest write = OneStream("client-1", ExpectedVersion::NoStream());
  AppendRequest read = OneStream("order-1", ExpectedVersion::NoStream());
  read.reads.push_back({"client-1", 0});
  absl::Notification done;
  store_->AppendAsync(std::move(write),
                      [&](absl::StatusOr<AppendResult> r) { first = r.status(); });
  store_->AppendAsync(std::move(read), [&](absl::StatusOr<AppendResult> r) {
    second = r.status();
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_OK(first);
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kAborted, HasSubstr("client-1")));
  EXPECT_THAT(Versions("order-1"), ElementsAre());
}

TEST_F(EventStoreTest, RejectsMalformedAppendsAndWritesNothing) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream())).status());
  const LogHead before = store_->Head();

  AppendRequest empty;
  EXPECT_THAT(store_->Append(empty),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no stream")));

  AppendRequest no_events;
  no_events.streams.emplace_back().stream_id = "order-2";
  EXPECT_THAT(store_->Append(no_events),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no events")));

  EXPECT_THAT(store_->Append(OneStream("", ExpectedVersion::Any())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(store_->Append(OneStream(std::string(257, 'x'), ExpectedVersion::Any())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit is 256")));
  EXPECT_THAT(store_->Append(OneStream(std::string("bad\0id", 6), ExpectedVersion::Any())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("control character")));

  AppendRequest twice = OneStream("order-3", ExpectedVersion::Any());
  twice.streams.push_back(twice.streams[0]);
  EXPECT_THAT(store_->Append(twice),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("named twice")));

  AppendRequest oversize = OneStream("order-4", ExpectedVersion::Any());
  oversize.streams[0].events[0].set_payload(std::string(options_.max_event_bytes + 1, 'p'));
  EXPECT_THAT(store_->Append(oversize),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the limit is")));

  AppendRequest untyped = OneStream("order-5", ExpectedVersion::Any());
  untyped.streams[0].events[0].clear_payload_type();
  EXPECT_THAT(store_->Append(untyped),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("payload_type")));

  AppendRequest store_field = OneStream("order-6", ExpectedVersion::Any());
  store_field.streams[0].events[0].set_position(42);
  EXPECT_THAT(store_->Append(store_field),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the store assigns")));

  AppendRequest long_key = OneStream("order-7", ExpectedVersion::Any());
  long_key.idempotency_key = std::string(257, 'k');
  EXPECT_THAT(store_->Append(long_key),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("idempotency key")));

  EXPECT_EQ(store_->Head().position, before.position);
  EXPECT_EQ(store_->Head().hash, before.hash);
  ASSERT_OK_AND_ASSIGN(auto all, store_->ReadAll(1, 100));
  EXPECT_THAT(all, SizeIs(1));
}

TEST_F(EventStoreTest, RejectsTooManyEventsInOneAppend) {
  options_.max_events_per_append = 5;
  Reopen();
  EXPECT_THAT(store_->Append(OneStream("order-1", ExpectedVersion::Any(), 6)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit is 5")));
  ExpectHead(0);
  EXPECT_OK(store_->Append(OneStream("order-1", ExpectedVersion::Any(), 5)).status());
}

TEST_F(EventStoreTest, IdempotentRepeatReturnsFirstResultAndWritesNothing) {
  AppendRequest request = OneStream("order-1", ExpectedVersion::NoStream(), 2);
  request.idempotency_key = "create-order-1";
  ASSERT_OK_AND_ASSIGN(AppendResult first, store_->Append(request));
  ASSERT_OK(store_->Append(OneStream("order-2", ExpectedVersion::Any())).status());

  // The repeat's expected version is stale by now; the key still wins.
  AppendRequest repeat = request;
  repeat.streams[0].events[0].set_event_id("a-fresh-id-from-a-retry");
  ASSERT_OK_AND_ASSIGN(AppendResult again, store_->Append(repeat));
  EXPECT_TRUE(again.deduplicated);
  EXPECT_THAT(again.records, SizeIs(0));
  EXPECT_EQ(again.first_position, first.first_position);
  EXPECT_EQ(again.last_position, first.last_position);
  ASSERT_THAT(again.streams, SizeIs(1));
  EXPECT_EQ(again.streams[0].last_version, 2u);
  ExpectHead(3);
}

TEST_F(EventStoreTest, FindIdempotentReturnsTheCommittedResult) {
  ASSERT_OK_AND_ASSIGN(std::optional<AppendResult> none, store_->FindIdempotent("k"));
  EXPECT_FALSE(none.has_value());
  AppendRequest request = OneStream("order-1", ExpectedVersion::NoStream(), 2);
  request.idempotency_key = "k";
  ASSERT_OK(store_->Append(std::move(request)).status());
  Reopen();
  ASSERT_OK_AND_ASSIGN(std::optional<AppendResult> found, store_->FindIdempotent("k"));
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->deduplicated);
  EXPECT_EQ(found->first_position, 1u);
  EXPECT_EQ(found->last_position, 2u);
  ASSERT_THAT(found->streams, SizeIs(1));
  EXPECT_EQ(found->streams[0].stream_id, "order-1");
}

TEST_F(EventStoreTest, IdempotencySurvivesReopen) {
  AppendRequest request = OneStream("order-1", ExpectedVersion::NoStream(), 2);
  request.idempotency_key = "create-order-1";
  ASSERT_OK_AND_ASSIGN(AppendResult first, store_->Append(request));
  Reopen();
  ASSERT_OK_AND_ASSIGN(AppendResult again, store_->Append(request));
  EXPECT_TRUE(again.deduplicated);
  EXPECT_EQ(again.first_position, first.first_position);
  ExpectHead(2);
}

TEST_F(EventStoreTest, ReusedKeyWithDifferentContentIsAlreadyExistsAndWritesNothing) {
  AppendRequest request = OneStream("order-1", ExpectedVersion::NoStream());
  request.idempotency_key = "k1";
  ASSERT_OK(store_->Append(request).status());

  AppendRequest other_payload = request;
  other_payload.streams[0].events[0].set_payload("something else");
  EXPECT_THAT(store_->Append(other_payload),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("\"k1\"")));
  AppendRequest other_stream = OneStream("order-2", ExpectedVersion::NoStream());
  other_stream.idempotency_key = "k1";
  EXPECT_THAT(store_->Append(other_stream),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("new key")));
  ExpectHead(1);
}

TEST_F(EventStoreTest, ReadsStreamForwardAndBackwardWithLimit) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream(), 5)).status());
  ASSERT_OK(store_->Append(OneStream("order-10", ExpectedVersion::NoStream(), 2)).status());

  ASSERT_OK_AND_ASSIGN(auto forward, store_->ReadStream("order-1", 2, Direction::kForward, 2));
  ASSERT_THAT(forward, SizeIs(2));
  EXPECT_EQ(forward[0].stream_version(), 2u);
  EXPECT_EQ(forward[1].stream_version(), 3u);

  ASSERT_OK_AND_ASSIGN(auto backward, store_->ReadStream("order-1", 4, Direction::kBackward, 3));
  ASSERT_THAT(backward, SizeIs(3));
  EXPECT_EQ(backward[0].stream_version(), 4u);
  EXPECT_EQ(backward[2].stream_version(), 2u);

  // Backward from past the end starts at the last event; never strays into "order-10".
  ASSERT_OK_AND_ASSIGN(auto tail,
                       store_->ReadStream("order-1", UINT64_MAX, Direction::kBackward, 100));
  ASSERT_THAT(tail, SizeIs(5));
  EXPECT_EQ(tail[0].stream_version(), 5u);
  EXPECT_EQ(tail[0].stream_id(), "order-1");

  ASSERT_OK_AND_ASSIGN(auto none, store_->ReadStream("order-2", 1, Direction::kForward, 10));
  EXPECT_THAT(none, SizeIs(0));
  EXPECT_THAT(store_->ReadStream("order-1", 1, Direction::kForward, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));

  ASSERT_OK_AND_ASSIGN(uint64_t version, store_->StreamVersion("order-10"));
  EXPECT_EQ(version, 2u);
}

TEST_F(EventStoreTest, ReadsWholeLogFromPositionWithLimit) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(store_->Append(OneStream(absl::StrCat("s", i), ExpectedVersion::Any(), 2)).status());
  }
  ASSERT_OK_AND_ASSIGN(auto page, store_->ReadAll(4, 3));
  ASSERT_THAT(page, SizeIs(3));
  EXPECT_EQ(page[0].position(), 4u);
  EXPECT_EQ(page[2].position(), 6u);
  ASSERT_OK_AND_ASSIGN(auto past, store_->ReadAll(11, 3));
  EXPECT_THAT(past, SizeIs(0));
}

TEST_F(EventStoreTest, ScanAllVisitsARangeInOrderAndStopsOnError) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream(), 8)).status());
  std::vector<uint64_t> seen;
  ASSERT_OK(store_->ScanAll(3, 6, [&seen](const EventRecord& r) {
    seen.push_back(r.position());
    EXPECT_EQ(r.hash().size(), 32u);
    return absl::OkStatus();
  }));
  EXPECT_THAT(seen, ElementsAre(3, 4, 5, 6));
  seen.clear();
  EXPECT_THAT(store_->ScanAll(1, 0,
                              [&seen](const EventRecord& r) {
                                seen.push_back(r.position());
                                return r.position() == 2 ? absl::CancelledError("enough")
                                                         : absl::OkStatus();
                              }),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("enough")));
  EXPECT_THAT(seen, ElementsAre(1, 2));
}

TEST_F(EventStoreTest, StreamVersionsSurviveReopenWithoutTheCache) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream(), 3)).status());
  ASSERT_OK(store_->Append(OneStream("order-10", ExpectedVersion::NoStream(), 5)).status());
  Reopen();
  EXPECT_THAT(store_->Append(OneStream("order-1", ExpectedVersion::Exactly(5))),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("version 3")));
  ASSERT_OK_AND_ASSIGN(AppendResult next,
                       store_->Append(OneStream("order-1", ExpectedVersion::Exactly(3))));
  EXPECT_EQ(next.streams[0].last_version, 4u);
  ASSERT_OK_AND_ASSIGN(uint64_t version, store_->StreamVersion("order-10"));
  EXPECT_EQ(version, 5u);
}

TEST_F(EventStoreTest, HeadAndStateSurviveReopen) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream(), 3)).status());
  const LogHead before = store_->Head();
  Reopen();
  EXPECT_EQ(store_->Head().position, before.position);
  EXPECT_EQ(store_->Head().hash, before.hash);
  ASSERT_OK_AND_ASSIGN(AppendResult next,
                       store_->Append(OneStream("order-1", ExpectedVersion::Exactly(3))));
  EXPECT_EQ(next.first_position, 4u);
  ASSERT_OK(store_->Verify(1, 0).status());
}

TEST_F(EventStoreTest, VerifyReportsRangeCountAndHeadHash) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream(), 10)).status());
  ASSERT_OK_AND_ASSIGN(VerifyResult all, store_->Verify(1, 0));
  EXPECT_EQ(all.records, 10u);
  EXPECT_EQ(all.last_position, 10u);
  EXPECT_EQ(all.last_hash, store_->Head().hash);
  ASSERT_OK_AND_ASSIGN(VerifyResult middle, store_->Verify(4, 6));
  EXPECT_EQ(middle.records, 3u);
  EXPECT_EQ(middle.first_position, 4u);
  EXPECT_THAT(store_->Verify(1, 11),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ends at 10")));
}

TEST_F(EventStoreTest, CheckpointsAreDurableAndValidated) {
  ASSERT_OK(store_->Append(OneStream("order-1", ExpectedVersion::NoStream(), 4)).status());
  ASSERT_OK_AND_ASSIGN(uint64_t none, store_->LoadCheckpoint("projector"));
  EXPECT_EQ(none, 0u);
  ASSERT_OK(store_->SaveCheckpoint("projector", 3));
  Reopen();
  ASSERT_OK_AND_ASSIGN(uint64_t saved, store_->LoadCheckpoint("projector"));
  EXPECT_EQ(saved, 3u);
  EXPECT_THAT(store_->SaveCheckpoint("projector", 5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("past the log's head")));
  EXPECT_THAT(store_->SaveCheckpoint("", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  ASSERT_OK_AND_ASSIGN(uint64_t still, store_->LoadCheckpoint("projector"));
  EXPECT_EQ(still, 3u);
  ExpectHead(4);
}

TEST(EventStoreOpenTest, RejectsBadOptions) {
  spotflow::testing::TempDir dir;
  Options options;
  options.max_event_bytes = 10;
  EXPECT_THAT(EventStore::Open(options, dir.Sub("db")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_event_bytes")));
  options = Options();
  options.subscription_buffer_events = 0;
  EXPECT_THAT(
      EventStore::Open(options, dir.Sub("db")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("subscription_buffer_events")));
  EXPECT_THAT(EventStore::Open(Options(), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("path")));
}

TEST(EventStoreOpenTest, CreatesMissingParentDirectories) {
  spotflow::testing::TempDir dir;
  Options options;
  options.sync = false;
  auto store = EventStore::Open(options, dir.Sub("var/spotflow/db"));
  ASSERT_OK(store.status());
  ASSERT_OK((*store)->Append(OneStream("order-1", ExpectedVersion::NoStream())).status());
}

TEST(EventStoreOpenTest, MissingStoreWithoutCreateIsNotFound) {
  spotflow::testing::TempDir dir;
  Options options;
  options.create_if_missing = false;
  EXPECT_THAT(EventStore::Open(options, dir.Sub("db")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("create_if_missing")));
}

// A LOCK file this process may not open (a directory another user owns) is a question of
// owner and mode, not of another process (root, who runs the tests, opens any file: RocksDB's
// own status stands in).
TEST(EventStoreOpenTest, ALockFileThatMayNotBeOpenedIsPermissionDeniedNotInUse) {
  const absl::Status status = spotflow::store::internal::FromRocksDb(
      rocksdb::Status::IOError("While open a file for appending: /srv/spotflow/log/LOCK",
                               "Permission denied"),
      "opening the store at /srv/spotflow/log");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kPermissionDenied,
                               HasSubstr("may not open the data directory's files (check their "
                                         "owner and mode)")));
  EXPECT_THAT(status.message(), Not(HasSubstr("in use by another process")));
}

// Each open moves RocksDB's diagnostic LOG aside as LOG.old.*: a server started many times
// keeps the last few, not every one.
TEST(EventStoreOpenTest, ReopeningKeepsOnlyTheLastFewDiagnosticLogs) {
  spotflow::testing::TempDir dir;
  for (int i = 0; i < 12; ++i) {
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(Options(), dir.Sub("db")));
  }
  int logs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.Sub("db"))) {
    if (entry.path().filename().string().rfind("LOG", 0) == 0) ++logs;
  }
  EXPECT_GE(logs, 1);
  EXPECT_LE(logs, 5);
}

TEST(EventStoreOpenTest, SecondOpenOfSameDirectoryIsUnavailable) {
  spotflow::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto first, EventStore::Open(Options(), dir.Sub("db")));
  EXPECT_THAT(EventStore::Open(Options(), dir.Sub("db")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("in use by another process")));
}

}  // namespace
}  // namespace spotflow::store
