// store_helpers.h: building appends in tests. Thread-safe: stateless functions.
#ifndef SPOTFLOW_TESTS_TESTING_STORE_HELPERS_H_
#define SPOTFLOW_TESTS_TESTING_STORE_HELPERS_H_

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "store/event_store.h"

namespace spotflow::testing {

// An event as a caller hands it to Append: only caller fields set.
inline store::EventRecord MakeEvent(std::string payload, std::string type = "test.Event") {
  store::EventRecord event;
  event.set_event_id(absl::StrCat("evt-", payload));
  event.set_payload_type(std::move(type));
  event.set_payload(std::move(payload));
  event.set_schema_version(1);
  event.mutable_actor()->set_user_id("tester");
  return event;
}

// An append of `count` events to one stream; payloads are "<stream>/<tag><i>".
inline store::AppendRequest OneStream(const std::string& stream_id, store::ExpectedVersion expected,
                                      int count = 1, const std::string& tag = "e") {
  store::AppendRequest request;
  store::StreamAppend& stream = request.streams.emplace_back();
  stream.stream_id = stream_id;
  stream.expected = expected;
  for (int i = 0; i < count; ++i) {
    stream.events.push_back(MakeEvent(absl::StrCat(stream_id, "/", tag, i)));
  }
  return request;
}

}  // namespace spotflow::testing

#endif  // SPOTFLOW_TESTS_TESTING_STORE_HELPERS_H_
