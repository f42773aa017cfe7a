// audit.h: what an auditor needs beside a running engine: digests of the log in a form to
// keep elsewhere, the JSON Lines export format, and a check of an export that re-hashes it
// without the database.
//
// The engine's audit queries (Engine::VerifyLog, CheckDigest, ExportEvents, OrderHistory,
// ClientHistory, CheckReplay) use these; so do the CLI's `spotflow audit` verbs.
//
//   // Later, on any machine, with only the export file and the digest kept at the time:
//   std::ifstream in("export.jsonl");
//   auto digest = spotflow::engine::ParseDigest("1042:9f86d081...");
//   auto checked = spotflow::engine::CheckExport(in, *digest);  // DATA_LOSS names the line
//
// Thread-safe: free functions without shared state; an ExportChecker is used by one thread.
#ifndef SPOTFLOW_ENGINE_AUDIT_H_
#define SPOTFLOW_ENGINE_AUDIT_H_

#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "proto/audit.pb.h"
#include "proto/event.pb.h"
#include "store/event_store.h"

namespace spotflow::engine {

// Called now and then during a long audit run with the records done and the total; return
// false to stop the run, which then fails with CANCELLED.
using Progress = std::function<bool(uint64_t done, uint64_t total)>;

// "<position>:<64 hex digits>", the digest's text form.
std::string FormatDigest(const v1::LogDigest& digest);
// Parses FormatDigest's form (surrounding spaces allowed). INVALID_ARGUMENT otherwise.
absl::StatusOr<v1::LogDigest> ParseDigest(absl::string_view text);
// The digest of a record: its position and hash (32 bytes) as a LogDigest.
v1::LogDigest DigestAt(uint64_t position, absl::string_view hash);

// Which records an export holds. Every bound is optional; `since` and `until` bound the
// recorded time as [since, until).
struct ExportFilter {
  uint64_t from_position = 1;
  uint64_t to_position = 0;  // 0: the head.
  std::string stream_id;     // Empty: every stream.
  // Instead of stream_id (Engine::ExportEvents only): an order's stream, by id or key, or a
  // client's; deleted ones too.
  std::string order_id;
  std::string client_id;
  std::string actor_id;  // Empty: every user. Else the events this user produced.
  std::optional<absl::Time> since;
  std::optional<absl::Time> until;
};

// Whether `record` passes the filter's stream, user and time bounds (not its positions).
bool Matches(const ExportFilter& filter, const v1::EventRecord& record);

// One export line (no newline) for a record whose hash is set, from the exact stored bytes
// its hash covers. INTERNAL if the bytes are not the record's.
absl::StatusOr<std::string> ExportLine(const v1::EventRecord& record, absl::string_view bytes);

// What a check of an export proved.
struct ExportCheck {
  uint64_t lines = 0;
  uint64_t first_position = 0;  // Of the first and last lines; both 0 for an empty export.
  uint64_t last_position = 0;
  // Every line follows the one before it (position + 1, previous hash = its hash), so the
  // export is one unbroken stretch of the chain; false for a filtered export, whose lines
  // are each proven alone.
  bool contiguous = true;
  v1::LogDigest last;           // The digest of the last line.
  bool digest_matched = false;  // A digest was given and the export holds its position.
};

// Re-hashes an export line by line, without the database: each line's hash must be
// SHA-256(previous hash || record bytes), its readable fields must equal what its bytes
// decode to, compared as messages (so an edited field is caught, not only an edited hash,
// while another protobuf's JSON spacing is not), and consecutive positions must chain. An export
// starting at position 1 must start from the zero hash.
class ExportChecker {
 public:
  // With a digest, the export must also prove it: some line (or the hash before the first
  // line) is at the digest's position and has its hash.
  explicit ExportChecker(std::optional<v1::LogDigest> digest) : digest_(std::move(digest)) {}

  // DATA_LOSS naming the line (1-based) and its position when it fails, including a line
  // whose hash differs from the digest's at its position.
  absl::Status AddLine(absl::string_view line);
  // What the lines proved. FAILED_PRECONDITION when a digest was given and the export does
  // not reach its position.
  absl::StatusOr<ExportCheck> Finish() const;

 private:
  absl::Status CheckDigestAt(uint64_t position, absl::string_view hash);

  const std::optional<v1::LogDigest> digest_;
  ExportCheck check_;
  std::string previous_hash_;  // Of the last line (32 bytes).
};

// Reads `in` as JSON Lines and checks it (ExportChecker). Blank lines are not allowed.
absl::StatusOr<ExportCheck> CheckExport(std::istream& in,
                                        const std::optional<v1::LogDigest>& digest);

// A page of an export (ExportEvents).
struct ExportPage {
  std::vector<std::string> lines;  // ExportLine of each matching record, in position order.
  uint64_t next_position = 0;      // Where the next page starts.
  uint64_t last_position = 0;      // The position the whole export runs to.
  bool done = false;               // This page reached last_position.
};

// The audit runs over a store, for an engine (Engine::VerifyLog and the others check the
// caller's privilege, then call these) and for tools that open a stopped server's data
// directory. Each is described at its Engine method.
absl::StatusOr<store::VerifyResult> VerifyLog(const store::EventStore& store,
                                              uint64_t from_position, uint64_t to_position,
                                              const Progress& progress);
absl::StatusOr<store::VerifyResult> CheckDigest(const store::EventStore& store,
                                                const v1::LogDigest& digest,
                                                const Progress& progress);
absl::StatusOr<ExportPage> ExportEvents(const store::EventStore& store, const ExportFilter& filter,
                                        size_t max_bytes);

// The field-level difference of two versions of a record, as FieldChanges (text values).
// `for_people`: leave out the record's bookkeeping (its version, when and at which position it
// was last changed), which a history already tells for each change, and an order's states
// entered, which the change of its status tells.
std::vector<v1::FieldChange> DiffFields(const google::protobuf::Message& before,
                                        const google::protobuf::Message& after,
                                        bool for_people = false);

}  // namespace spotflow::engine

#endif  // SPOTFLOW_ENGINE_AUDIT_H_
