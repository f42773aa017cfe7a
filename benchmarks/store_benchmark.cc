// store_benchmark: the event store beside raw RocksDB writing the same bytes with the same
// options, in one run. Prints one line per figure:
//   BENCH <name> value=<v> unit=<unit> limit=<limit name> limit_value=<v> ratio=<value/limit>
// Each figure is the median of several repetitions that alternate store and raw runs, so a
// noisy neighbour on the shared machine hurts both sides alike.
//
//   store_benchmark [--quick] [--only=NAME_PREFIX]
//
// Payloads are distinct and incompressible (random bytes from a fixed seed).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmarks/bench_util.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "store/event_store.h"
#include "store/internal/format.h"

namespace {

using spotflow::store::AppendRequest;
using spotflow::store::EventRecord;
using spotflow::store::EventStore;
using spotflow::store::ExpectedVersion;
namespace internal = spotflow::store::internal;
using spotflow::bench::Check;
using spotflow::bench::Compare;
using spotflow::bench::Config;
using spotflow::bench::Die;
using spotflow::bench::Payloads;
using spotflow::bench::Scratch;
using spotflow::bench::Seconds;

void Check(const rocksdb::Status& status) {
  if (!status.ok()) Die(status.ToString());
}

EventRecord MakeEvent(Payloads& payloads) {
  EventRecord event;
  event.set_event_id("evt-0000000000000001");
  event.set_payload_type("spotflow.v1.ScriptRevisionSubmitted");
  event.set_payload(payloads.Next());
  event.set_schema_version(1);
  event.mutable_actor()->set_user_id("producer.lee");
  event.mutable_actor()->add_roles("producer");
  event.mutable_recorded_time()->set_seconds(1'790'000'000);
  return event;
}

// The bytes the store would keep for an event: a record with store fields and a hash.
std::string StoredValue(Payloads& payloads, uint64_t position) {
  EventRecord record = MakeEvent(payloads);
  record.set_position(position);
  record.set_stream_id("order-PO-2026-00001");
  record.set_stream_version(position);
  record.set_previous_hash(std::string(32, 'h'));
  std::string value = record.SerializeAsString();
  value.append(32, 'h');
  return value;
}

spotflow::store::Options StoreOptions(bool sync) {
  spotflow::store::Options options;
  options.sync = sync;
  return options;
}

// Raw RocksDB with the options the store gives its log family.
std::unique_ptr<rocksdb::DB> OpenRaw(const std::string& path) {
  const spotflow::store::Options defaults;
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_background_jobs = defaults.background_threads;
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options.write_buffer_size = defaults.write_buffer_bytes;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(defaults.block_cache_bytes);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  Check(rocksdb::DB::Open(options, path, &db));
  return std::unique_ptr<rocksdb::DB>(db);
}

// Appends of `batch` events each from one thread, for `total` events.
double StoreAppends(int total, int batch, bool sync) {
  Scratch scratch;
  auto store = EventStore::Open(StoreOptions(sync), scratch.Sub("db"));
  Check(store.status());
  Payloads payloads(1);
  std::vector<AppendRequest> requests;
  for (int i = 0; i < total / batch; ++i) {
    AppendRequest& request = requests.emplace_back();
    auto& stream = request.streams.emplace_back();
    stream.stream_id = absl::StrCat("order-", i % 1000);
    for (int e = 0; e < batch; ++e) stream.events.push_back(MakeEvent(payloads));
  }
  const auto start = std::chrono::steady_clock::now();
  for (AppendRequest& request : requests) Check((*store)->Append(std::move(request)).status());
  return total / Seconds(start);
}

double RawPuts(int total, int batch, bool sync) {
  Scratch scratch;
  auto db = OpenRaw(scratch.Sub("raw"));
  Payloads payloads(1);
  std::vector<std::string> values;
  for (int i = 0; i < total; ++i) values.push_back(StoredValue(payloads, i + 1));
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < total; i += batch) {
    rocksdb::WriteBatch wb;
    for (int e = i; e < i + batch; ++e) wb.Put(internal::LogKey(e + 1), values[e]);
    Check(db->Write(write_options, &wb));
  }
  return total / Seconds(start);
}

// Durable single-event appends from `threads` threads for `seconds`.
double StoreSyncedAppends(int threads, double seconds) {
  Scratch scratch;
  auto store = EventStore::Open(StoreOptions(true), scratch.Sub("db"));
  Check(store.status());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> workers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Payloads payloads(100 + t);
      const std::string stream = absl::StrCat("order-", t);
      while (!stop.load(std::memory_order_relaxed)) {
        AppendRequest request;
        auto& s = request.streams.emplace_back();
        s.stream_id = stream;
        s.events.push_back(MakeEvent(payloads));
        Check((*store)->Append(std::move(request)).status());
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& w : workers) w.join();
  return done.load() / Seconds(start);
}

double RawSyncedPuts(int threads, double seconds) {
  Scratch scratch;
  auto db = OpenRaw(scratch.Sub("raw"));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> workers;
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Payloads payloads(100 + t);
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const uint64_t key = (static_cast<uint64_t>(t) << 40) | i;
        Check(db->Put(write_options, internal::LogKey(key), StoredValue(payloads, key)));
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& w : workers) w.join();
  return done.load() / Seconds(start);
}

// Reading the whole log after reopening, beside iterating the same bytes with RocksDB and
// parsing each record.
void ReadAll(const Config& config) {
  if (!config.Wants("store_read_all")) return;
  const int total = config.quick ? 100'000 : 1'000'000;
  Scratch scratch;
  const std::string path = scratch.Sub("db");
  {
    auto store = EventStore::Open(StoreOptions(false), path);
    Check(store.status());
    Payloads payloads(7);
    for (int i = 0; i < total; i += 100) {
      AppendRequest request;
      auto& stream = request.streams.emplace_back();
      stream.stream_id = absl::StrCat("order-", (i / 100) % 5000);
      for (int e = 0; e < 100; ++e) stream.events.push_back(MakeEvent(payloads));
      Check((*store)->Append(std::move(request)).status());
    }
  }
  // The replay path: ScanAll visits each record without copying it.
  auto store_scan = [&] {
    auto store = EventStore::Open(StoreOptions(false), path);
    Check(store.status());
    const auto start = std::chrono::steady_clock::now();
    uint64_t read = 0;
    Check((*store)->ScanAll(1, 0, [&read](const EventRecord&) {
      ++read;
      return absl::OkStatus();
    }));
    if (read != static_cast<uint64_t>(total)) Die("store_read_all read the wrong count");
    return read / Seconds(start);
  };
  // The paging path: ReadAll returns owned copies, 10,000 at a time.
  auto store_pages = [&] {
    auto store = EventStore::Open(StoreOptions(false), path);
    Check(store.status());
    const auto start = std::chrono::steady_clock::now();
    uint64_t read = 0;
    for (uint64_t from = 1;;) {
      auto page = (*store)->ReadAll(from, 10'000);
      Check(page.status());
      if (page->empty()) break;
      read += page->size();
      from += page->size();
    }
    if (read != static_cast<uint64_t>(total)) Die("store_read_all_paged read the wrong count");
    return read / Seconds(start);
  };
  auto raw_run = [&] {
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    std::vector<std::string> names;
    Check(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names));
    for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    Check(rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &db));
    rocksdb::ColumnFamilyHandle* log = nullptr;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == internal::kLogFamily) log = handles[i];
    }
    const auto start = std::chrono::steady_clock::now();
    uint64_t read = 0;
    rocksdb::ReadOptions read_options;
    read_options.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, log));
    EventRecord record;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice value = it->value();
      if (!record.ParseFromArray(value.data(), static_cast<int>(value.size() - 32))) Die("parse");
      ++read;
    }
    const double rate = read / Seconds(start);
    it.reset();
    for (auto* handle : handles) Check(db->DestroyColumnFamilyHandle(handle));
    delete db;
    if (read != static_cast<uint64_t>(total)) Die("raw read the wrong count");
    return rate;
  };
  Compare(config, "store_read_all", "events/s", "rocksdb_iterate_parse", store_scan, raw_run);
  Compare(config, "store_read_all_paged", "events/s", "rocksdb_iterate_parse", store_pages,
          raw_run);
}

}  // namespace

int main(int argc, char** argv) {
  const Config config = spotflow::bench::ParseFlags(argc, argv, "store_benchmark");
  const int nosync_total = config.quick ? 20'000 : 200'000;
  const double sync_seconds = config.quick ? 0.5 : 3.0;

  Compare(
      config, "store_append_nosync", "events/s", "rocksdb_put_nosync",
      [&] { return StoreAppends(nosync_total, 1, false); },
      [&] { return RawPuts(nosync_total, 1, false); });
  Compare(
      config, "store_append_batch100", "events/s", "rocksdb_writebatch100_nosync",
      [&] { return StoreAppends(nosync_total * 5, 100, false); },
      [&] { return RawPuts(nosync_total * 5, 100, false); });
  for (int threads : {1, 8, 64}) {
    Compare(
        config, absl::StrCat("store_append_sync_", threads), "events/s",
        absl::StrCat("rocksdb_put_sync_", threads, "_threads"),
        [&] { return StoreSyncedAppends(threads, sync_seconds); },
        [&] { return RawSyncedPuts(threads, sync_seconds); });
  }
  ReadAll(config);
  return 0;
}
