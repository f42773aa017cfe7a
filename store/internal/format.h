// format.h: the on-disk layout of the RocksDB event store, as docs/storage-format.md
// describes it. Constants here are persistent: never renumber or rename them.
//
// Thread-safe: stateless functions.
#ifndef SPOTFLOW_STORE_INTERNAL_FORMAT_H_
#define SPOTFLOW_STORE_INTERNAL_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace spotflow::store::internal {

// The format version this code writes and reads, kept under kFormatVersionKey.
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr absl::string_view kFormatVersionKey = "spotflow.format_version";

// Column families.
inline constexpr absl::string_view kMetaFamily = "default";     // format version
inline constexpr absl::string_view kLogFamily = "log";          // position -> record
inline constexpr absl::string_view kStreamsFamily = "streams";  // (stream, version) -> position
inline constexpr absl::string_view kIdempotencyFamily = "idempotency";  // key -> entry
inline constexpr absl::string_view kCheckpointsFamily = "checkpoints";  // name -> position

// Length of a SHA-256 hash; a log record's value ends with one.
inline constexpr size_t kHashBytes = 32;

// Fixed-width big-endian integers, so that keys sort numerically.
void AppendBigEndian64(std::string* out, uint64_t value);
std::string EncodeBigEndian64(uint64_t value);
// Returns false unless `in` is exactly 8 bytes.
bool DecodeBigEndian64(absl::string_view in, uint64_t* value);
std::string EncodeBigEndian32(uint32_t value);
bool DecodeBigEndian32(absl::string_view in, uint32_t* value);

// Key of the log family: the position, 8 bytes big-endian.
inline std::string LogKey(uint64_t position) { return EncodeBigEndian64(position); }

// Key of the streams family: the stream id, a 0x00 byte, the version 8 bytes big-endian.
// Stream ids hold no control characters, so one stream's keys are contiguous and ordered.
std::string StreamKey(absl::string_view stream_id, uint64_t version);
// The prefix every key of `stream_id` starts with (the id and the 0x00 byte).
std::string StreamKeyPrefix(absl::string_view stream_id);

}  // namespace spotflow::store::internal

#endif  // SPOTFLOW_STORE_INTERNAL_FORMAT_H_
