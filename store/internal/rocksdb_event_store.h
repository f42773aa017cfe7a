// rocksdb_event_store.h: the RocksDB implementation of EventStore. Use EventStore::Open;
// this header exists so that store/event_store.cc can reach the implementation without
// any RocksDB header becoming public.
#ifndef SPOTFLOW_STORE_INTERNAL_ROCKSDB_EVENT_STORE_H_
#define SPOTFLOW_STORE_INTERNAL_ROCKSDB_EVENT_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/event_store.h"

namespace spotflow::store::internal {

// See EventStore::Open. `options` must already be validated.
absl::StatusOr<std::unique_ptr<EventStore>> OpenRocksDbEventStore(const Options& options,
                                                                  const std::string& path);

}  // namespace spotflow::store::internal

#endif  // SPOTFLOW_STORE_INTERNAL_ROCKSDB_EVENT_STORE_H_
