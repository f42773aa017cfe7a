// crash_writer: the child process of crash_test. Opens the store at argv[1] with sync on
// and appends from several threads until it is killed, writing one line per acknowledged
// event to the side file argv[2]:  <position> <stream id> <stream version>
// A line is written with one write(2) after Append returned OK, so every line in the file
// was acknowledged before the kill.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/event_store.h"

namespace {

using spotflow::store::AppendRequest;
using spotflow::store::EventStore;
using spotflow::store::ExpectedVersion;

void Writer(EventStore* store, int fd, int id) {
  const std::string stream = absl::StrCat("crash-", id);
  absl::StatusOr<uint64_t> version = store->StreamVersion(stream);
  if (!version.ok()) std::abort();
  for (uint64_t n = 0;; ++n) {
    AppendRequest request;
    auto& s = request.streams.emplace_back();
    s.stream_id = stream;
    s.expected = ExpectedVersion::Exactly(*version);
    const int events = 1 + static_cast<int>(n % 3);
    for (int e = 0; e < events; ++e) {
      auto& event = s.events.emplace_back();
      event.set_payload_type("crash.Event");
      event.set_payload(absl::StrCat(stream, "/", *version + e + 1, "/", std::string(200, 'x')));
    }
    absl::StatusOr<spotflow::store::AppendResult> result = store->Append(std::move(request));
    if (!result.ok()) {
      std::fprintf(stderr, "append failed: %s\n", result.status().ToString().c_str());
      std::abort();
    }
    std::string lines;
    for (int e = 0; e < events; ++e) {
      absl::StrAppend(&lines, result->first_position + e, " ", stream, " ", *version + e + 1, "\n");
    }
    if (write(fd, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) std::abort();
    *version += events;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: crash_writer DB_PATH SIDE_FILE\n");
    return 2;
  }
  spotflow::store::Options options;  // sync on
  auto store = EventStore::Open(options, argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "open failed: %s\n", store.status().ToString().c_str());
    return 1;
  }
  const int fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return 1;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(Writer, store->get(), fd, i);
  for (auto& thread : threads) thread.join();  // Never returns: the parent kills us.
  return 0;
}
