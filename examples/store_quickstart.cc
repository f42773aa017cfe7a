// store_quickstart: the smallest program that uses Spotflow's event log.
//
// Opens (or creates) a store, appends the first events of a production order, reads them
// back, verifies the hash chain and prints what it did. Run it twice: the second run finds
// the first run's events and appends a new order after them.
//
//   store_quickstart [DATA_DIR]      (default: ./var/spotflow)
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "store/event_store.h"

namespace {

using spotflow::store::AppendRequest;
using spotflow::store::AppendResult;
using spotflow::store::Direction;
using spotflow::store::EventRecord;
using spotflow::store::EventStore;
using spotflow::store::ExpectedVersion;
using spotflow::store::VerifyResult;

EventRecord Event(const std::string& type, const std::string& payload, const std::string& user) {
  EventRecord event;
  event.set_payload_type(type);
  event.set_payload(payload);  // In the engine this is a serialized domain event.
  event.set_schema_version(1);
  event.mutable_actor()->set_user_id(user);
  return event;
}

absl::Status Run(const std::string& data_dir) {
  std::error_code error;
  std::filesystem::create_directories(data_dir, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot create ", data_dir, ": ", error.message()));
  }
  spotflow::store::Options options;  // sync on: every acknowledged append is durable.
  ASSIGN_OR_RETURN(std::unique_ptr<EventStore> store, EventStore::Open(options, data_dir));
  std::printf("opened the store at %s: %llu events so far\n", data_dir.c_str(),
              static_cast<unsigned long long>(store->Head().position));

  // A new order stream, and its client's stream, in one atomic append.
  const uint64_t n = store->Head().position + 1;
  const std::string order = absl::StrCat("order-PO-2026-", n);
  AppendRequest request;
  request.idempotency_key = absl::StrCat("quickstart-", n);
  auto& order_stream = request.streams.emplace_back();
  order_stream.stream_id = order;
  order_stream.expected = ExpectedVersion::NoStream();
  order_stream.events = {
      Event("spotflow.v1.OrderCreated", "spot production needed, 30s, flight Dec 1-24", "ae.kim"),
      Event("spotflow.v1.ScriptRevisionSubmitted", "revision 1: holiday copy", "producer.lee"),
      Event("spotflow.v1.RevisionApproved", "script revision 1", "ae.kim"),
  };
  auto& client_stream = request.streams.emplace_back();
  client_stream.stream_id = "client-acme-motors";
  client_stream.expected = ExpectedVersion::Any();
  client_stream.events = {Event("spotflow.v1.ClientOrderLinked", order, "ae.kim")};

  ASSIGN_OR_RETURN(AppendResult result, store->Append(std::move(request)));
  std::printf("appended positions %llu-%llu: %s now at version %llu, %s at version %llu\n",
              static_cast<unsigned long long>(result.first_position),
              static_cast<unsigned long long>(result.last_position), order.c_str(),
              static_cast<unsigned long long>(result.streams[0].last_version),
              result.streams[1].stream_id.c_str(),
              static_cast<unsigned long long>(result.streams[1].last_version));

  ASSIGN_OR_RETURN(std::vector<EventRecord> events,
                   store->ReadStream(order, 1, Direction::kForward, 100));
  std::printf("read back %s:\n", order.c_str());
  for (const EventRecord& e : events) {
    std::printf("  v%llu  position %llu  %-38s by %-13s hash %s...\n",
                static_cast<unsigned long long>(e.stream_version()),
                static_cast<unsigned long long>(e.position()), e.payload_type().c_str(),
                e.actor().user_id().c_str(),
                absl::BytesToHexString(e.hash()).substr(0, 16).c_str());
  }

  ASSIGN_OR_RETURN(VerifyResult verified, store->Verify(1, 0));
  std::printf("verified the hash chain: %llu records, head hash %s\n",
              static_cast<unsigned long long>(verified.records),
              absl::BytesToHexString(verified.last_hash).c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string data_dir = argc > 1 ? argv[1] : "./var/spotflow";
  absl::Status status = Run(data_dir);
  if (!status.ok()) {
    std::fprintf(stderr, "store_quickstart: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
