// raw_db.h: a store's database opened with RocksDB directly, every column family, so that
// tests can change the bytes the store wrote (tamper, truncate, reorder). Open it only while
// no EventStore has the directory open. Links RocksDB: for tests that reach the bytes on disk.
#ifndef SPOTFLOW_TESTS_TESTING_RAW_DB_H_
#define SPOTFLOW_TESTS_TESTING_RAW_DB_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"

namespace spotflow::testing {

// The database opened raw, with every column family of the store.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    std::vector<std::string> names;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& name : names)
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* db = nullptr;
    rocksdb::Status status =
        rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles_, &db);
    EXPECT_TRUE(status.ok()) << status.ToString();
    db_.reset(db);
    for (size_t i = 0; i < names.size(); ++i) by_name_[names[i]] = handles_[i];
  }
  ~RawDb() {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  rocksdb::ColumnFamilyHandle* family(absl::string_view name) {
    return by_name_[std::string(name)];
  }
  std::string Get(absl::string_view family_name, const std::string& key) {
    std::string value;
    EXPECT_TRUE(db_->Get(rocksdb::ReadOptions(), family(family_name), key, &value).ok());
    return value;
  }
  void Put(absl::string_view family_name, const std::string& key, const std::string& value) {
    EXPECT_TRUE(db_->Put(rocksdb::WriteOptions(), family(family_name), key, value).ok());
  }
  void Delete(absl::string_view family_name, const std::string& key) {
    EXPECT_TRUE(db_->Delete(rocksdb::WriteOptions(), family(family_name), key).ok());
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
};

}  // namespace spotflow::testing

#endif  // SPOTFLOW_TESTS_TESTING_RAW_DB_H_
