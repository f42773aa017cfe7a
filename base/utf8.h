// utf8.h: whether text is well-formed UTF-8, for every layer that takes text from outside.
#ifndef SPOTFLOW_BASE_UTF8_H_
#define SPOTFLOW_BASE_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace spotflow {

// Where `text` stops being well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF): the offset of the first bad byte, or std::string::npos.
inline size_t Utf8ErrorAt(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code = c & 0x07;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return i;
    }
    i += length;
  }
  return std::string::npos;
}

inline bool IsUtf8(absl::string_view text) { return Utf8ErrorAt(text) == std::string::npos; }

}  // namespace spotflow

#endif  // SPOTFLOW_BASE_UTF8_H_
