// The bytes on disk: tamper evidence of the hash chain and the format version check.
// These tests open the database with RocksDB directly to change what the store wrote.
#include "store/internal/format.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/event_store.h"
#include "tests/testing/raw_db.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_helpers.h"
#include "tests/testing/temp_dir.h"

namespace spotflow::store {
namespace {

using ::spotflow::testing::OneStream;
using ::spotflow::testing::StatusIs;
using ::testing::HasSubstr;

using ::spotflow::testing::RawDb;

class FormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.sync = false;
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(options_, path_));
    for (int i = 0; i < 10; ++i) {
      ASSERT_OK(store
                    ->Append(OneStream(absl::StrCat("order-", i % 3), ExpectedVersion::Any(), 1,
                                       absl::StrCat(i)))
                    .status());
    }
  }
  absl::StatusOr<std::unique_ptr<EventStore>> Open() { return EventStore::Open(options_, path_); }

  spotflow::testing::TempDir dir_;
  const std::string path_ = dir_.Sub("db");
  Options options_;
};

TEST_F(FormatTest, IntactLogVerifies) {
  ASSERT_OK_AND_ASSIGN(auto store, Open());
  ASSERT_OK_AND_ASSIGN(VerifyResult result, store->Verify(1, 0));
  EXPECT_EQ(result.records, 10u);
}

TEST_F(FormatTest, FlippingAnyByteOfARecordIsDataLossAtThatPosition) {
  const std::string key = internal::LogKey(6);
  std::string original;
  {
    RawDb raw(path_);
    original = raw.Get(internal::kLogFamily, key);
  }
  // Every byte of the record and of its stored hash.
  for (size_t offset = 0; offset < original.size(); ++offset) {
    SCOPED_TRACE(absl::StrCat("offset ", offset));
    {
      RawDb raw(path_);
      std::string altered = original;
      altered[offset] ^= 0x01;
      raw.Put(internal::kLogFamily, key, altered);
    }
    ASSERT_OK_AND_ASSIGN(auto store, Open());
    EXPECT_THAT(store->Verify(1, 0),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("position 6")));
    EXPECT_OK(store->Verify(1, 5).status());
  }
  {
    RawDb raw(path_);
    raw.Put(internal::kLogFamily, key, original);
  }
  ASSERT_OK_AND_ASSIGN(auto store, Open());
  EXPECT_OK(store->Verify(1, 0).status());
}

TEST_F(FormatTest, MissingRecordIsDataLoss) {
  {
    RawDb raw(path_);
    raw.Delete(internal::kLogFamily, internal::LogKey(4));
  }
  ASSERT_OK_AND_ASSIGN(auto store, Open());
  EXPECT_THAT(store->Verify(1, 0),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("position 4: record is missing")));
  EXPECT_THAT(store->ReadAll(1, 100),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("position 4")));
}

TEST_F(FormatTest, SwappedRecordsAreDataLoss) {
  {
    RawDb raw(path_);
    const std::string a = raw.Get(internal::kLogFamily, internal::LogKey(3));
    const std::string b = raw.Get(internal::kLogFamily, internal::LogKey(4));
    raw.Put(internal::kLogFamily, internal::LogKey(3), b);
    raw.Put(internal::kLogFamily, internal::LogKey(4), a);
  }
  ASSERT_OK_AND_ASSIGN(auto store, Open());
  EXPECT_THAT(store->Verify(1, 0), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("position 3")));
}

TEST_F(FormatTest, UnknownFormatVersionIsFailedPrecondition) {
  {
    RawDb raw(path_);
    raw.Put(internal::kMetaFamily, std::string(internal::kFormatVersionKey),
            internal::EncodeBigEndian32(99));
  }
  EXPECT_THAT(Open(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("format version 99"), HasSubstr("reads version 1"))));
}

// Every file of a directory and its bytes.
std::map<std::string, std::string> Files(const std::string& path) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    std::ifstream in(entry.path(), std::ios::binary);
    files[entry.path().filename().string()] =
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return files;
}

// That `path` holds the files `before` held, byte for byte, and no other.
void ExpectUnchanged(const std::map<std::string, std::string>& before, const std::string& path) {
  const std::map<std::string, std::string> after = Files(path);
  for (const auto& [name, bytes] : before) {
    auto it = after.find(name);
    if (it == after.end()) {
      ADD_FAILURE() << name << " was deleted";
    } else {
      EXPECT_TRUE(it->second == bytes) << name << " changed";
    }
  }
  for (const auto& [name, unused] : after) {
    EXPECT_TRUE(before.count(name)) << name << " was made";
  }
}

TEST_F(FormatTest, AStoreOfAnotherFormatIsRefusedBeforeAnyFileChanges) {
  {
    RawDb raw(path_);  // The version lands in the WAL, which a read-write open would replay.
    raw.Put(internal::kMetaFamily, std::string(internal::kFormatVersionKey),
            internal::EncodeBigEndian32(2));
  }
  const std::map<std::string, std::string> before = Files(path_);
  EXPECT_THAT(Open(), StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("storage format version 2")));
  ExpectUnchanged(before, path_);
}

TEST_F(FormatTest, ForeignRocksDbIsFailedPrecondition) {
  const std::string foreign = dir_.Sub("foreign");
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, foreign, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "hello", "world").ok());
    delete db;
  }
  EXPECT_THAT(EventStore::Open(options_, foreign),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a Spotflow store")));
}

TEST_F(FormatTest, AStoreThatLostItsCurrentFileIsRefusedNotStartedAfresh) {
  const std::string damaged = dir_.Sub("damaged");
  {
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(options_, damaged));
    ASSERT_OK(store->Append(OneStream("order-1", ExpectedVersion::Any())).status());
  }
  std::filesystem::remove(damaged + "/CURRENT");
  const std::map<std::string, std::string> before = Files(damaged);
  EXPECT_THAT(EventStore::Open(options_, damaged),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not empty but holds no readable database")));
  ExpectUnchanged(before, damaged);
}

}  // namespace
}  // namespace spotflow::store
