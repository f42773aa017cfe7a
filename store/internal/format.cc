#include "store/internal/format.h"

namespace spotflow::store::internal {

void AppendBigEndian64(std::string* out, uint64_t value) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  out->append(buf, sizeof(buf));
}

std::string EncodeBigEndian64(uint64_t value) {
  std::string out;
  AppendBigEndian64(&out, value);
  return out;
}

bool DecodeBigEndian64(absl::string_view in, uint64_t* value) {
  if (in.size() != 8) return false;
  uint64_t v = 0;
  for (char c : in) v = (v << 8) | static_cast<uint8_t>(c);
  *value = v;
  return true;
}

std::string EncodeBigEndian32(uint32_t value) {
  std::string out(4, '\0');
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

bool DecodeBigEndian32(absl::string_view in, uint32_t* value) {
  if (in.size() != 4) return false;
  uint32_t v = 0;
  for (char c : in) v = (v << 8) | static_cast<uint8_t>(c);
  *value = v;
  return true;
}

std::string StreamKeyPrefix(absl::string_view stream_id) {
  std::string key;
  key.reserve(stream_id.size() + 1 + 8);
  key.append(stream_id.data(), stream_id.size());
  key.push_back('\0');
  return key;
}

std::string StreamKey(absl::string_view stream_id, uint64_t version) {
  std::string key = StreamKeyPrefix(stream_id);
  AppendBigEndian64(&key, version);
  return key;
}

}  // namespace spotflow::store::internal
