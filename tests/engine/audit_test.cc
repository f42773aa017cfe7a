// Audit: verify and digests, export and its offline check, replay as of a moment, field-level
// history, the determinism check, and the auditor's privileges.
#include "engine/audit.h"

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "store/internal/format.h"
#include "tests/testing/engine_fixture.h"
#include "tests/testing/raw_db.h"
#include "tests/testing/store_helpers.h"

namespace spotflow::engine {
namespace {

using ::spotflow::testing::MakeDate;
using ::spotflow::testing::RawDb;
using ::spotflow::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class AuditTest : public ::spotflow::testing::EngineTest {
 protected:
  // The whole log exported through the engine, `max_bytes` a page.
  std::vector<std::string> ExportAll(const ExportFilter& filter, size_t max_bytes = 1 << 20) {
    std::vector<std::string> lines;
    ExportFilter page_filter = filter;
    for (int pages = 0; pages < 100000; ++pages) {
      auto page = engine_->ExportEvents({kAuditor}, page_filter, max_bytes);
      EXPECT_OK(page.status());
      if (!page.ok()) break;
      lines.insert(lines.end(), page->lines.begin(), page->lines.end());
      if (page->done) break;
      page_filter.from_position = page->next_position;
    }
    return lines;
  }

  static absl::StatusOr<ExportCheck> Check(const std::vector<std::string>& lines,
                                           const std::optional<v1::LogDigest>& digest) {
    std::istringstream in(absl::StrJoin(lines, "\n") + "\n");
    return CheckExport(in, digest);
  }

  v1::LogDigest HeadDigest() {
    auto verified = engine_->VerifyLog({kAuditor}, 1, 0, nullptr);
    EXPECT_OK(verified.status());
    return DigestAt(verified->last_position, verified->last_hash);
  }

  // An order through script, changes, a second script, approval and a spot.
  std::string OrderWithHistory() {
    const std::string order = CreateOrder();
    Run(kProducer, Script(order, "Cold outside? Hot deals inside."));
    Run(kAe, RequestChanges(order, "script", 1, "Lead with the offer"));
    Run(kProducer, Script(order, "0% financing all winter."));
    Run(kAe, Approve(order, "script", 2));
    return order;
  }
};

TEST_F(AuditTest, VerifyGivesCountAndHeadHashAndReportsProgress) {
  OrderWithHistory();
  const uint64_t head = store_->Head().position;
  std::vector<uint64_t> reported;
  ASSERT_OK_AND_ASSIGN(store::VerifyResult verified,
                       engine_->VerifyLog({kAuditor}, 1, 0, [&](uint64_t done, uint64_t total) {
                         EXPECT_EQ(total, head);
                         reported.push_back(done);
                         return true;
                       }));
  EXPECT_EQ(verified.records, head);
  EXPECT_EQ(verified.last_position, head);
  EXPECT_EQ(verified.last_hash, store_->Head().hash);
  ASSERT_FALSE(reported.empty());
  EXPECT_EQ(reported.back(), head);
  // A range: its count and the hash at its end.
  ASSERT_OK_AND_ASSIGN(store::VerifyResult middle, engine_->VerifyLog({kAuditor}, 3, 7, nullptr));
  EXPECT_EQ(middle.records, 5u);
  ASSERT_OK_AND_ASSIGN(auto at7, store_->ReadAll(7, 1));
  EXPECT_EQ(middle.last_hash, at7[0].hash());
  // Past the end: the position asked for, not the end of a chunk, is named.
  EXPECT_THAT(engine_->VerifyLog({kAuditor}, 1, 99999, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(absl::StrCat(
                           "cannot verify up to position 99999; the log ends at ", head))));
}

TEST_F(AuditTest, ProgressCanStopALongRun) {
  // Progress comes every 10,000 records: a store of its own with 25,000 small ones.
  store::Options options;
  options.sync = false;
  ASSERT_OK_AND_ASSIGN(auto big, store::EventStore::Open(options, dir_.Sub("big")));
  for (int i = 0; i < 250; ++i) {
    ASSERT_OK(big->Append(::spotflow::testing::OneStream(absl::StrCat("s", i),
                                                         store::ExpectedVersion::Any(), 100))
                  .status());
  }
  std::vector<uint64_t> reported;
  auto record = [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, 25'000u);
    reported.push_back(done);
    return true;
  };
  ASSERT_OK(VerifyLog(*big, 1, 0, record).status());
  EXPECT_EQ(reported, (std::vector<uint64_t>{10'000, 20'000, 25'000}));
  EXPECT_THAT(VerifyLog(*big, 1, 0, [](uint64_t, uint64_t) { return false; }),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("stopped at position 10000")));
}

TEST_F(AuditTest, DigestProvesTheLogUpToItAndThatTheLogExtendsIt) {
  OrderWithHistory();
  const v1::LogDigest kept = HeadDigest();
  EXPECT_EQ(ParseDigest(FormatDigest(kept))->ShortDebugString(), kept.ShortDebugString());
  OrderWithHistory();  // The log grows after the digest was taken.
  ASSERT_OK_AND_ASSIGN(store::VerifyResult checked,
                       engine_->CheckDigest({kAuditor}, kept, nullptr));
  EXPECT_EQ(checked.last_position, store_->Head().position);

  v1::LogDigest wrong = kept;
  wrong.set_hash(std::string(64, 'a'));
  EXPECT_THAT(engine_->CheckDigest({kAuditor}, wrong, nullptr),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(absl::StrCat("position ", kept.position())),
                             HasSubstr("rewritten"))));
  v1::LogDigest beyond = kept;
  beyond.set_position(store_->Head().position + 5);
  EXPECT_THAT(engine_->CheckDigest({kAuditor}, beyond, nullptr),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("records were removed")));
  EXPECT_THAT(ParseDigest("12:xyz"), StatusIs(absl::StatusCode::kInvalidArgument));
  // Position 0 is the empty log's zero hash: every log extends it.
  ASSERT_OK_AND_ASSIGN(v1::LogDigest zero, ParseDigest(absl::StrCat("0:", std::string(64, '0'))));
  EXPECT_OK(engine_->CheckDigest({kAuditor}, zero, nullptr).status());
  // An empty range is a mistake worth saying so.
  EXPECT_THAT(engine_->VerifyLog({kAuditor}, 9, 5, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("range is empty")));
  EXPECT_THAT(engine_->VerifyLog({kAuditor}, store_->Head().position + 2, 0, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("range is empty")));
  ExportFilter backwards;
  backwards.from_position = 9;
  backwards.to_position = 5;
  EXPECT_THAT(engine_->ExportEvents({kAuditor}, backwards, 1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("range is empty")));
  EXPECT_THAT(ParseDigest("twelve"), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("<position>:<64 lowercase hex digits>")));
  v1::LogDigest malformed = kept;
  malformed.set_hash("ABC");
  EXPECT_THAT(engine_->CheckDigest({kAuditor}, malformed, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// A log of real engine records, small enough to corrupt byte by byte: the fixture's last
// records (users, the client, its contact, shares) copied into a store of their own.
class TamperTest : public AuditTest {
 protected:
  // Three records of 150 to 300 bytes: every byte flipped, each flip a reopen, about 10 s.
  static constexpr int kRecords = 3;

  void SetUp() override {
    AuditTest::SetUp();
    const uint64_t head = store_->Head().position;
    ASSERT_OK_AND_ASSIGN(auto records, store_->ReadAll(head - kRecords + 1, kRecords));
    path_ = dir_.Sub("small");
    auto small = OpenSmall();
    for (v1::EventRecord record : records) {
      store::AppendRequest append;
      store::StreamAppend& stream = append.streams.emplace_back();
      stream.stream_id = record.stream_id();
      for (int field : {1, 2, 3, 9, 13, 14}) {
        record.GetReflection()->ClearField(&record,
                                           record.GetDescriptor()->FindFieldByNumber(field));
      }
      stream.events.push_back(record);
      ASSERT_OK(small->Append(std::move(append)).status());
    }
    ASSERT_OK_AND_ASSIGN(store::VerifyResult verified, VerifyLog(*small, 1, 0, nullptr));
    digest_ = DigestAt(verified.last_position, verified.last_hash);
  }

  std::unique_ptr<store::EventStore> OpenSmall() {
    store::Options options;
    options.sync = false;
    auto store = store::EventStore::Open(options, path_);
    EXPECT_OK(store.status());
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::string path_;
  v1::LogDigest digest_;
};

TEST_F(TamperTest, AnyAlteredByteOfAnyRecordIsFoundAtItsPosition) {
  int flips = 0;
  for (uint64_t position = 1; position <= kRecords; ++position) {
    const std::string key = store::internal::LogKey(position);
    std::string original;
    {
      RawDb raw(path_);
      original = raw.Get(store::internal::kLogFamily, key);
    }
    // Every byte of the record and of its stored hash.
    for (size_t offset = 0; offset < original.size(); ++offset, ++flips) {
      SCOPED_TRACE(absl::StrCat("position ", position, " offset ", offset));
      {
        RawDb raw(path_);
        std::string altered = original;
        altered[offset] ^= 0x20;
        raw.Put(store::internal::kLogFamily, key, altered);
      }
      store::Options options;
      options.sync = false;
      auto opened = store::EventStore::Open(options, path_);
      const std::string at = absl::StrCat("position ", position);
      if (!opened.ok()) {
        // The last record is read when the store opens: it refuses the log there already.
        EXPECT_EQ(position, static_cast<uint64_t>(kRecords));
        EXPECT_THAT(opened, StatusIs(absl::StatusCode::kDataLoss, HasSubstr(at)));
        continue;
      }
      auto small = *std::move(opened);
      EXPECT_THAT(VerifyLog(*small, 1, 0, nullptr),
                  StatusIs(absl::StatusCode::kDataLoss, HasSubstr(at)));
      EXPECT_THAT(CheckDigest(*small, digest_, nullptr),
                  StatusIs(absl::StatusCode::kDataLoss, HasSubstr(at)));
      if (position > 1) {
        EXPECT_OK(VerifyLog(*small, 1, position - 1, nullptr).status());
      }
    }
    RawDb raw(path_);
    raw.Put(store::internal::kLogFamily, key, original);
  }
  EXPECT_GT(flips, kRecords * 100);
  auto small = OpenSmall();
  EXPECT_OK(CheckDigest(*small, digest_, nullptr).status());
}

TEST_F(TamperTest, ARecordRehashedToPointElsewhereDoesNotLink) {
  // Record 2 is rewritten to name another previous hash, and its own hash recomputed over
  // its new bytes from the true chain: the hash checks, only the link can catch it.
  const std::string key = store::internal::LogKey(2);
  {
    RawDb raw(path_);
    const std::string value = raw.Get(store::internal::kLogFamily, key);
    v1::EventRecord record;
    ASSERT_TRUE(record.ParseFromString(value.substr(0, value.size() - 32)));
    record.set_previous_hash(std::string(32, 'x'));
    const std::string bytes = record.SerializeAsString();
    const std::string before = raw.Get(store::internal::kLogFamily, store::internal::LogKey(1));
    raw.Put(store::internal::kLogFamily, key,
            bytes + store::ChainHash(before.substr(before.size() - 32), bytes));
  }
  auto small = OpenSmall();
  ASSERT_NE(small, nullptr);
  const auto unlinked =
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("position 2: record does not link"));
  EXPECT_THAT(VerifyLog(*small, 1, 0, nullptr), unlinked);
  EXPECT_THAT(ExportEvents(*small, {}, 1 << 20), unlinked);  // The full parse path.
  EXPECT_OK(VerifyLog(*small, 1, 1, nullptr).status());
}

TEST_F(TamperTest, TruncatedAndReorderedLogsAreFound) {
  const std::string last_key = store::internal::LogKey(kRecords);
  std::string last;
  {
    RawDb raw(path_);
    last = raw.Get(store::internal::kLogFamily, last_key);
    raw.Delete(store::internal::kLogFamily, last_key);
  }
  {
    // The last record gone: the log verifies, but no longer reaches the digest.
    auto small = OpenSmall();
    ASSERT_NE(small, nullptr);
    EXPECT_OK(VerifyLog(*small, 1, 0, nullptr).status());
    EXPECT_THAT(CheckDigest(*small, digest_, nullptr),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("records were removed")));
  }
  {
    RawDb raw(path_);
    raw.Put(store::internal::kLogFamily, last_key, last);
    const std::string a = raw.Get(store::internal::kLogFamily, store::internal::LogKey(1));
    const std::string b = raw.Get(store::internal::kLogFamily, store::internal::LogKey(2));
    raw.Put(store::internal::kLogFamily, store::internal::LogKey(1), b);
    raw.Put(store::internal::kLogFamily, store::internal::LogKey(2), a);
  }
  auto small = OpenSmall();
  ASSERT_NE(small, nullptr);
  EXPECT_THAT(VerifyLog(*small, 1, 0, nullptr),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("position 1:")));
  EXPECT_THAT(CheckDigest(*small, digest_, nullptr),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("position 1:")));
}

TEST_F(AuditTest, ExportRoundTripsAgainstADigestAndCatchesAChangedLine) {
  OrderWithHistory();
  const v1::LogDigest digest = HeadDigest();
  // Small pages: the export is the same however it is paged.
  const std::vector<std::string> lines = ExportAll({}, /*max_bytes=*/2000);
  ASSERT_EQ(lines.size(), store_->Head().position);
  EXPECT_EQ(lines, ExportAll({}));
  ASSERT_OK_AND_ASSIGN(ExportCheck check, Check(lines, digest));
  EXPECT_EQ(check.lines, lines.size());
  EXPECT_TRUE(check.contiguous);
  EXPECT_TRUE(check.digest_matched);
  EXPECT_EQ(FormatDigest(check.last), FormatDigest(digest));

  // Readable: the payload is the domain event, the actor and time are there.
  const std::string& created = lines[lines.size() - 5];
  EXPECT_THAT(created, HasSubstr("\"order_created\""));
  EXPECT_THAT(created, HasSubstr("\"user_id\":\"ae\""));
  EXPECT_THAT(created, HasSubstr("\"type\":\"spotflow.v1.OrderCreated\""));

  // A changed character inside a value is caught at its line: in the payload text, the
  // actor, the hash, the record bytes.
  int exercised = 0;
  for (size_t n : {size_t{0}, lines.size() - 5, lines.size() - 1}) {
    for (const std::string before :
         {"\"title\":\"Winter", "\"user_id\":\"", "\"hash\":\"", "\"record\":\""}) {
      std::vector<std::string> changed = lines;
      const size_t at = changed[n].find(before);
      if (at == std::string::npos) continue;  // Not every line has a title.
      ++exercised;
      char& c = changed[n][at + before.size()];
      c = c == 'a' ? 'b' : 'a';
      SCOPED_TRACE(absl::StrCat("line ", n + 1, " after ", before));
      EXPECT_THAT(Check(changed, digest),
                  StatusIs(absl::StatusCode::kDataLoss, HasSubstr(absl::StrCat("line ", n + 1))));
    }
  }
  EXPECT_GE(exercised, 10);
  // Formatting is not content: the same line spaced differently still checks.
  std::vector<std::string> spaced = lines;
  spaced[2].replace(spaced[2].find("\":"), 2, "\": ");
  EXPECT_OK(Check(spaced, digest).status());
  // Two lines swapped, a line dropped, a digest the export does not reach.
  std::vector<std::string> swapped = lines;
  std::swap(swapped[3], swapped[4]);
  EXPECT_THAT(Check(swapped, digest),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("line 5 (position 4)")));
  std::vector<std::string> dropped = lines;
  dropped.erase(dropped.begin() + 3);
  ASSERT_OK_AND_ASSIGN(ExportCheck gap, Check(dropped, digest));
  EXPECT_FALSE(gap.contiguous);
  v1::LogDigest later = digest;
  later.set_position(digest.position() + 10);
  EXPECT_THAT(Check(lines, later), StatusIs(absl::StatusCode::kFailedPrecondition,
                                            HasSubstr("does not reach position")));
  // The same digest proven by a tail export: the hash before its first line is checked too.
  ExportFilter tail;
  tail.from_position = digest.position();
  ASSERT_OK_AND_ASSIGN(ExportCheck tail_check, Check(ExportAll(tail), digest));
  EXPECT_TRUE(tail_check.digest_matched);
}

TEST_F(AuditTest, EventsOfOneUserInATimeWindow) {
  clock_.Advance(absl::Hours(1));
  const absl::Time since = clock_.Now();
  OrderWithHistory();
  clock_.Advance(absl::Hours(1));
  const absl::Time until = clock_.Now();
  OrderWithHistory();  // After the window.
  ExportFilter filter;
  filter.actor_id = kProducer;
  filter.since = since;
  filter.until = until;
  const std::vector<std::string> lines = ExportAll(filter);
  ASSERT_EQ(lines.size(), 2u);  // The two script revisions of the first order.
  for (const std::string& line : lines) {
    EXPECT_THAT(line, HasSubstr("\"user_id\":\"producer\""));
    EXPECT_THAT(line, HasSubstr("revision_submitted"));
  }
  ASSERT_OK_AND_ASSIGN(ExportCheck check, Check(lines, std::nullopt));
  EXPECT_FALSE(check.contiguous);
  filter.until = since;
  EXPECT_THAT(engine_->ExportEvents({kAuditor}, filter, 1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("time window is empty")));
  ExportFilter misspelt;  // An empty export would read as a user who did nothing.
  misspelt.actor_id = "producr";
  EXPECT_THAT(engine_->ExportEvents({kAuditor}, misspelt, 1000),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no user has the id \"producr\"")));
}

TEST_F(AuditTest, ExportsAnOrderByIdOrKeyDeletedOrNotAndRefusesWhatTheLogLacks) {
  const std::string order = OrderWithHistory();
  OrderWithHistory();  // Another order, whose events must stay out.
  ASSERT_OK_AND_ASSIGN(v1::OrderView view, engine_->GetOrder({kAe}, order));
  ExportFilter by_id;
  by_id.order_id = order;
  const std::vector<std::string> lines = ExportAll(by_id);
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) EXPECT_THAT(line, HasSubstr(order));
  v1::Command remove;
  remove.mutable_delete_order()->set_order_id(order);
  Run(kAe, remove);
  ExportFilter by_key;
  by_key.order_id = view.key();  // A deleted order is exported by its key as by its id.
  const std::vector<std::string> after = ExportAll(by_key);
  EXPECT_EQ(after.size(), lines.size() + 1) << "its deletion too";
  ExportFilter client;
  client.client_id = client_;
  EXPECT_FALSE(ExportAll(client).empty());

  // An export of nothing would read as a record with no events.
  ExportFilter unknown;
  unknown.order_id = "PO-1999-00001";
  EXPECT_THAT(engine_->ExportEvents({kAuditor}, unknown, 1000),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no order has the id or key")));
  unknown.order_id.clear();
  unknown.client_id = "initech";
  EXPECT_THAT(engine_->ExportEvents({kAuditor}, unknown, 1000),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no client has the id")));
  unknown.client_id.clear();
  unknown.stream_id = "orders-" + order;
  EXPECT_THAT(engine_->ExportEvents({kAuditor}, unknown, 1000),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("the log has no stream")));
  // An order's key where its id goes (as `events tail` names an order): its stream is said.
  unknown.stream_id = "order-" + view.key();
  EXPECT_THAT(engine_->ExportEvents({kAuditor}, unknown, 1000),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(absl::StrCat("; order ", view.key(), "'s stream is order-", order,
                                              " (or export it by its key: spotflow audit export "
                                              "--order ",
                                              view.key(), ")"))));
  unknown.order_id = order;
  EXPECT_THAT(engine_->ExportEvents({kAuditor}, unknown, 1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("one of")));
}

TEST_F(AuditTest, ReplayAsOfEachMomentGivesWhatQueriesReturnedThen) {
  struct Moment {
    uint64_t position;
    absl::Time time;
    v1::OrderView order;
    v1::ClientView client;
  };
  std::vector<Moment> moments;
  std::string order;
  auto record = [&] {
    Moment moment;
    moment.position = engine_->position();
    moment.time = clock_.Now();
    moment.order = *engine_->GetOrder({kAuditor}, order);
    moment.client = *engine_->GetClient({kAuditor}, client_);
    // Which contacts sign in is read off the users as they are now, not off the client's own
    // history: GetClient's alone (ClientView.contact_logins).
    moment.client.clear_contact_logins();
    moments.push_back(moment);
    clock_.Advance(absl::Minutes(7));  // What comes next is later than this moment.
  };
  order = CreateOrder();
  record();
  Run(kProducer, Script(order, "Cold outside? Hot deals inside."));
  record();
  Run(kAe, Forward(order, "script", 1));
  record();
  Run(kAe, ClientAnswer(order, "script", 1, true, "carol", "Love it"));
  v1::Command rename;
  rename.mutable_update_client()->set_client_id(client_);
  rename.mutable_update_client()->set_name("Acme Motors West");
  Run(kAe, rename);
  record();
  Run(kAe, FlightChange(order, MakeDate(2027, 1, 5), MakeDate(2027, 2, 5)));
  record();
  Run(kAe, OrderOnly(order, "delete"));  // Auditors replay deleted orders too.
  for (size_t i = 0; i < moments.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("moment ", i));
    const Moment& m = moments[i];
    for (const AsOf& as_of : {AsOf{m.position, std::nullopt}, AsOf{std::nullopt, m.time}}) {
      ASSERT_OK_AND_ASSIGN(v1::OrderView then, engine_->GetOrderAsOf({kAuditor}, order, as_of));
      std::string difference;
      google::protobuf::util::MessageDifferencer differencer;
      differencer.ReportDifferencesToString(&difference);
      EXPECT_TRUE(differencer.Compare(m.order, then)) << difference;
      ASSERT_OK_AND_ASSIGN(v1::ClientView client,
                           engine_->GetClientAsOf({kAuditor}, client_, as_of));
      EXPECT_EQ(client.ShortDebugString(), m.client.ShortDebugString());
    }
  }
  // Others still see a deleted order as gone.
  EXPECT_THAT(engine_->GetOrderAsOf({kAe}, order, AsOf{moments[0].position, std::nullopt}),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AuditTest, HistoryListsEveryChangeWithWhoWhenAndFields) {
  const std::string order = OrderWithHistory();
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> history, engine_->OrderHistory({kAuditor}, order));
  ASSERT_EQ(history.size(), 5u);
  EXPECT_EQ(history[0].type(), "spotflow.v1.OrderCreated");
  EXPECT_EQ(history[0].actor().user_id(), "ae");
  EXPECT_EQ(history[1].actor().user_id(), "producer");
  EXPECT_EQ(history[3].version(), 4u);
  EXPECT_LT(history[0].position(), history[4].position());
  auto field = [](const v1::Change& change, const std::string& path) -> const v1::FieldChange* {
    for (const v1::FieldChange& f : change.fields()) {
      if (f.path() == path) return &f;
    }
    return nullptr;
  };
  const v1::FieldChange* title = field(history[0], "title");
  ASSERT_NE(title, nullptr);
  EXPECT_EQ(title->old_value(), "");
  EXPECT_EQ(title->new_value(), "\"Winter sales event :30\"");
  // The second script: a revision added; the approval: the status moved on.
  std::vector<std::string> paths;
  for (const v1::FieldChange& f : history[3].fields()) paths.push_back(f.path());
  EXPECT_THAT(paths, ::testing::Contains(HasSubstr("scripts[1]"))) << absl::StrJoin(paths, ", ");
  const v1::FieldChange* status = field(history[4], "status");
  ASSERT_NE(status, nullptr) << history[4].ShortDebugString();
  EXPECT_NE(status->old_value(), status->new_value());
  // The states entered are the analytics' record of the status, which people read once.
  for (const v1::Change& change : history) {
    for (const v1::FieldChange& f : change.fields()) {
      EXPECT_FALSE(absl::StartsWith(f.path(), "status_history")) << f.path();
    }
  }

  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> client, engine_->ClientHistory({kAuditor}, client_));
  EXPECT_EQ(client[0].type(), "spotflow.v1.ClientCreated");
  EXPECT_THAT(engine_->OrderHistory({kAuditor}, "no-such-order"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("never existed")));
}

TEST_F(AuditTest, HistoryNamesKeyedRecordsByTheirKey) {
  // Two more contacts after carol; removing carol must read as carol removed, not as dan
  // renamed into her place.
  for (const char* id : {"dan", "eve"}) {
    Run(kAe, AddContactCommand(client_, id, id));
  }
  v1::Command email;
  email.mutable_update_contact()->set_client_id(client_);
  email.mutable_update_contact()->mutable_contact()->set_contact_id("eve");
  email.mutable_update_contact()->mutable_contact()->set_email("eve@acme.test");
  email.mutable_update_contact()->mutable_update_mask()->add_paths("contact.email");
  Run(kAe, email);
  v1::Command remove;
  remove.mutable_remove_contact()->set_client_id(client_);
  remove.mutable_remove_contact()->set_contact_id("carol");
  remove.mutable_remove_contact()->set_end_login(true);
  Run(kAe, remove);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> history,
                       engine_->ClientHistory({kAuditor}, client_));
  auto paths = [](const v1::Change& change) {
    std::vector<std::string> out;
    for (const v1::FieldChange& f : change.fields()) {
      out.push_back(absl::StrCat(f.path(), ": ", f.old_value(), " -> ", f.new_value()));
    }
    return out;
  };
  ASSERT_GE(history.size(), 3u);
  // Only what changed: the version each change made is its header's (Change.version).
  EXPECT_THAT(paths(history[history.size() - 2]),
              ::testing::ElementsAre("contacts[eve].email:  -> \"eve@acme.test\""));
  EXPECT_EQ(history[history.size() - 2].version(), 7u);
  const std::vector<std::string> removed = paths(history.back());
  ASSERT_THAT(removed, ::testing::SizeIs(1)) << absl::StrJoin(removed, "; ");
  EXPECT_THAT(removed[0], ::testing::StartsWith("contacts[carol]: contact_id: \"carol\""));
  EXPECT_THAT(removed[0], ::testing::EndsWith(" -> ")) << "removed: no new value";
}

TEST_F(AuditTest, HistoryValuesReadAsWritten) {
  v1::Command comment;
  const std::string order = CreateOrder();
  comment.mutable_add_comment()->set_order_id(order);
  comment.mutable_add_comment()->set_text("Summer's \"here\"\tnow");
  Run(kAe, comment);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> history, engine_->OrderHistory({kAuditor}, order));
  ASSERT_THAT(history.back().fields(), ::testing::SizeIs(1));
  const std::string& added = history.back().fields(0).new_value();
  EXPECT_THAT(added, ::testing::HasSubstr("text: \"Summer's \\\"here\\\"\\tnow\""))
      << "one line: a tab is written as \\t";
  EXPECT_THAT(added, ::testing::ContainsRegex("time: 20[0-9-]+T[0-9:.]+Z"));
  EXPECT_THAT(added, ::testing::Not(::testing::HasSubstr("time {")));
}

TEST_F(AuditTest, HistoryNamesFormFieldsByNameWithTheirValues) {
  const std::string order = CreateOrder();
  auto update = [&](const char* field, const char* value) {
    v1::Command command;
    command.mutable_update_order()->set_order_id(order);
    (*command.mutable_update_order()->mutable_fields())[field].set_string_value(value);
    Run(kAe, command);
  };
  update("station", "WXYZ");
  update("station", "Müller's \"K\"");
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> history, engine_->OrderHistory({kAuditor}, order));
  ASSERT_GE(history.size(), 2u);
  const v1::Change& added = history[history.size() - 2];
  const v1::Change& changed = history.back();
  ASSERT_THAT(added.fields(), ::testing::SizeIs(1));
  EXPECT_EQ(added.fields(0).path(), "fields[station]");
  EXPECT_EQ(added.fields(0).old_value(), "");
  EXPECT_EQ(added.fields(0).new_value(), "\"WXYZ\"");
  ASSERT_THAT(changed.fields(), ::testing::SizeIs(1));
  EXPECT_EQ(changed.fields(0).path(), "fields[station]");
  EXPECT_EQ(changed.fields(0).old_value(), "\"WXYZ\"");
  EXPECT_EQ(changed.fields(0).new_value(), "\"Müller's \\\"K\\\"\"") << "as written";

  // One update that changes a field and sets another: each by its own name. (An entry added
  // at an index where the old map held another was named by that one's key; a map's order is
  // drawn anew for each, so several orders are tried.)
  const auto described = [](const v1::Change& change) {
    std::vector<std::string> out;
    for (const v1::FieldChange& f : change.fields()) {
      out.push_back(absl::StrCat(f.path(), ": ", f.old_value(), " -> ", f.new_value()));
    }
    return out;
  };
  for (int round = 0; round < 12; ++round) {
    const std::string another = CreateOrder();
    v1::Command first;
    first.mutable_update_order()->set_order_id(another);
    (*first.mutable_update_order()->mutable_fields())["station"].set_string_value("AAA");
    Run(kAe, first);
    v1::Command both;
    both.mutable_update_order()->set_order_id(another);
    (*both.mutable_update_order()->mutable_fields())["station"].set_string_value("BBB");
    (*both.mutable_update_order()->mutable_fields())["contract_number"].set_string_value("C-9");
    Run(kAe, both);
    ASSERT_OK_AND_ASSIGN(history, engine_->OrderHistory({kAuditor}, another));
    EXPECT_THAT(described(history.back()),
                ::testing::UnorderedElementsAre("fields[station]: \"AAA\" -> \"BBB\"",
                                                "fields[contract_number]:  -> \"C-9\""))
        << "round " << round;
  }
}

TEST_F(AuditTest, DeterminismCheckPassesOnALongRandomizedScenario) {
  RandomScenario(/*seed=*/21, /*steps=*/5000);
  ASSERT_GT(store_->Head().position, 400u);
  ASSERT_OK_AND_ASSIGN(Engine::ReplayCheck check, engine_->CheckReplay({kAuditor}, nullptr));
  EXPECT_EQ(check.position, store_->Head().position);
  EXPECT_EQ(check.live_digest, check.rebuilt_digest);
  EXPECT_EQ(check.live_digest, engine_->StateDigest());
}

TEST_F(AuditTest, DeterminismCheckCatchesAForgedSnapshot) {
  Options options;
  options.snapshot_path = dir_.Sub("engine.snapshot");
  engine_options_ = options;
  OpenEngine();
  const std::string order = OrderWithHistory();
  ASSERT_OK(engine_->WriteSnapshot());
  // The snapshot still names the right position and hash, but one order was changed in it.
  v1::EngineState forged;
  {
    std::ifstream in(options.snapshot_path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    ASSERT_TRUE(forged.ParseFromString(bytes.str()));
  }
  for (v1::OrderView& view : *forged.mutable_orders()) {
    if (view.order_id() == order) view.set_owner_id("mallory");
  }
  {
    std::ofstream out(options.snapshot_path, std::ios::binary | std::ios::trunc);
    out << forged.SerializeAsString();
  }
  OpenEngine();
  EXPECT_THAT(
      engine_->CheckReplay({kAuditor}, nullptr),
      StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("owner_id"), HasSubstr("mallory"))));
}

TEST_F(AuditTest, OnlyAuditorsAndAdministratorsAudit) {
  const std::string order = OrderWithHistory();
  for (const char* user : {kAuditor, kAdmin}) {
    SCOPED_TRACE(user);
    EXPECT_OK(engine_->VerifyLog({user}, 1, 0, nullptr).status());
    EXPECT_OK(engine_->CheckDigest({user}, HeadDigest(), nullptr).status());
    EXPECT_OK(engine_->ExportEvents({user}, {}, 1000).status());
    EXPECT_OK(engine_->OrderHistory({user}, order).status());
    EXPECT_OK(engine_->CheckReplay({user}, nullptr).status());
  }
  for (const char* user : {kAe, kManager, kProducer, kAssistant, kClientUser}) {
    SCOPED_TRACE(user);
    const auto denied = StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("EVENTS_READ"));
    EXPECT_THAT(engine_->VerifyLog({user}, 1, 0, nullptr), denied);
    EXPECT_THAT(engine_->CheckDigest({user}, HeadDigest(), nullptr), denied);
    EXPECT_THAT(engine_->ExportEvents({user}, {}, 1000), denied);
    EXPECT_THAT(engine_->ClientHistory({user}, client_), denied);
    EXPECT_THAT(engine_->CheckReplay({user}, nullptr), denied);
  }
  EXPECT_THAT(engine_->VerifyLog({"nobody"}, 1, 0, nullptr),
              StatusIs(absl::StatusCode::kUnauthenticated));

  // An order's history is also open to the staff who can see the order (order history),
  // not to a contact's login, which sees only what was forwarded to it.
  for (const char* user : {kAe, kManager, kProducer, kAssistant}) {
    SCOPED_TRACE(user);
    ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> changes, engine_->OrderHistory({user}, order));
    EXPECT_EQ(changes.size(), engine_->OrderHistory({kAuditor}, order)->size());
  }
  EXPECT_THAT(engine_->OrderHistory({kClientUser}, order),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("client contact's login")));
  EXPECT_THAT(engine_->OrderHistory({kAe2}, order), StatusIs(absl::StatusCode::kNotFound))
      << "an order the caller cannot see";
  v1::Command remove;
  remove.mutable_delete_order()->set_order_id(order);
  Run(kAe, remove);
  EXPECT_THAT(engine_->OrderHistory({kAe}, order), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(engine_->OrderHistory({kAuditor}, order).status()) << "auditors read deleted ones";
}

TEST_F(AuditTest, TheAuditorChangesNothing) {
  const std::string order = OrderWithHistory();
  v1::Command comment;
  comment.mutable_add_comment()->set_order_id(order);
  comment.mutable_add_comment()->set_text("audited");
  v1::Command user;
  user.mutable_create_user()->set_user_id("eve");
  user.mutable_create_user()->set_display_name("Eve");
  const std::string fresh = CreateOrder();
  // Each command is allowed in its order's state, so only the privilege can refuse it.
  for (const v1::Command& command :
       {CreateOrderCommand(), Script(fresh, "x"), Spot(order, "s3://spots/audited.wav"),
        OrderOnly(order, "archive"), OrderOnly(order, "delete"),
        FlightChange(order, MakeDate(2027, 1, 1), MakeDate(2027, 1, 2)), comment,
        CreateClientCommand("audited", "Audited Inc"), user}) {
    SCOPED_TRACE(command.ShortDebugString());
    EXPECT_THAT(Reject(kAuditor, command), StatusIs(absl::StatusCode::kPermissionDenied));
  }
}

}  // namespace
}  // namespace spotflow::engine
