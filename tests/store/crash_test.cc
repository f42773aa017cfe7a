// Crash safety: a child appends with sync on and is killed with SIGKILL at random moments.
// After every kill the store must reopen with every acknowledged event, dense positions,
// dense stream versions and an intact hash chain.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "store/event_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace spotflow::store {
namespace {

struct Ack {
  uint64_t position;
  std::string stream;
  uint64_t version;
};

// Complete lines of the side file; a line cut by the kill has no newline and is skipped.
std::vector<Ack> ReadAcks(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<Ack> acks;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    std::istringstream line(text.substr(start, end - start));
    Ack ack;
    if (line >> ack.position >> ack.stream >> ack.version) acks.push_back(ack);
  }
  return acks;
}

size_t FileSize(const std::string& path) {
  std::ifstream in(path, std::ios::ate | std::ios::binary);
  return in ? static_cast<size_t>(in.tellg()) : 0;
}

TEST(CrashTest, KillNineLosesNoAcknowledgedEventAndLeavesAnIntactPrefix) {
  spotflow::testing::TempDir dir;
  const std::string db = dir.Sub("db");
  const std::string side = dir.Sub("acks");
  std::mt19937 random(20261123);  // Fixed seed: the same kill schedule every run.
  constexpr int kKills = 24;

  for (int round = 0; round < kKills; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const size_t acked_before = FileSize(side);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      execl(SPOTFLOW_CRASH_WRITER, SPOTFLOW_CRASH_WRITER, db.c_str(), side.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    // Wait until the child is appending, then let it run a random while and kill it.
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (FileSize(side) == acked_before && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 150)(random)));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "the writer exited by itself: status " << wstatus;
    ASSERT_GT(FileSize(side), acked_before) << "the writer acknowledged nothing";

    Options options;
    ASSERT_OK_AND_ASSIGN(auto store, EventStore::Open(options, db));
    const std::vector<Ack> acks = ReadAcks(side);
    const uint64_t head = store->Head().position;
    ASSERT_OK_AND_ASSIGN(std::vector<EventRecord> all, store->ReadAll(1, head + 1));
    ASSERT_EQ(all.size(), head);
    std::map<std::string, uint64_t> last_version;
    for (size_t i = 0; i < all.size(); ++i) {
      ASSERT_EQ(all[i].position(), i + 1) << "positions are not dense";
      ASSERT_EQ(all[i].stream_version(), last_version[all[i].stream_id()] + 1)
          << "stream versions are not dense";
      last_version[all[i].stream_id()] = all[i].stream_version();
    }
    for (const Ack& ack : acks) {
      ASSERT_LE(ack.position, head) << "acknowledged position " << ack.position << " is lost";
      const EventRecord& record = all[ack.position - 1];
      ASSERT_EQ(record.stream_id(), ack.stream);
      ASSERT_EQ(record.stream_version(), ack.version);
    }
    ASSERT_OK_AND_ASSIGN(VerifyResult verified, store->Verify(1, 0));
    ASSERT_EQ(verified.records, head);
  }
}

}  // namespace
}  // namespace spotflow::store
