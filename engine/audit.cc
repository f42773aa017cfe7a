#include "engine/audit.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "engine/internal/definitions.h"
#include "engine/internal/state.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace spotflow::engine {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

constexpr size_t kHashBytes = 32;
// How often long runs report progress, and how many records one export page scans at most
// (so that a selective filter still shows progress).
constexpr uint64_t kProgressEvery = 10'000;
constexpr uint64_t kMaxExportScan = 50'000;
constexpr char kDomainEventUrl[] = "type.googleapis.com/spotflow.v1.DomainEvent";

std::string ZeroHash() { return std::string(kHashBytes, '\0'); }

bool IsHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || absl::ascii_isupper(c)) {
      return false;
    }
  }
  return true;
}

v1::ExportedEvent ToExported(const v1::EventRecord& record, absl::string_view bytes,
                             bool with_payload) {
  v1::ExportedEvent line;
  line.set_position(record.position());
  line.set_stream(record.stream_id());
  line.set_version(record.stream_version());
  line.set_type(record.payload_type());
  line.set_event_id(record.event_id());
  if (record.has_actor()) *line.mutable_actor() = record.actor();
  if (record.has_recorded_time()) *line.mutable_time() = record.recorded_time();
  line.set_correlation_id(record.correlation_id());
  line.set_causation_id(record.causation_id());
  if (with_payload) {
    line.mutable_payload()->set_type_url(kDomainEventUrl);
    line.mutable_payload()->set_value(record.payload());
  }
  line.set_previous_hash(absl::BytesToHexString(record.previous_hash()));
  line.set_hash(absl::BytesToHexString(record.hash()));
  line.set_record(std::string(bytes));
  return line;
}

absl::StatusOr<std::string> RenderLine(const v1::EventRecord& record, absl::string_view bytes,
                                       bool with_payload) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(
      ToExported(record, bytes, with_payload), &out, options);
  if (!status.ok()) return absl::InternalError(status.message().as_string());
  return out;
}

// Times and dates as people write them ("2026-12-05T09:30:00Z", "2026-12-31"), not as
// their fields ("seconds: 1796470200").
class TimestampPrinter final : public google::protobuf::TextFormat::MessagePrinter {
 public:
  void Print(const Message& message, bool /*single_line_mode*/,
             google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    google::protobuf::Timestamp time;
    time.CopyFrom(message);
    generator->PrintString(
        absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ",
                         absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos()),
                         absl::UTCTimeZone()));
  }
};

class DatePrinter final : public google::protobuf::TextFormat::MessagePrinter {
 public:
  void Print(const Message& message, bool /*single_line_mode*/,
             google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    v1::Date date;
    date.CopyFrom(message);
    generator->PrintString(internal::FormatDate(date));
  }
};

// Text quoted with only what must be escaped escaped, on one line and with nothing a terminal
// obeys, so that "Summer's here" and "Müller" read as written.
std::string Quoted(const std::string& value) {
  std::string quoted = "\"";
  for (char c : value) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted.push_back('\\');
      quoted.push_back(c);
    } else if (byte < 0x20 || byte == 0x7f) {
      quoted.append(absl::CEscape(absl::string_view(&c, 1)));
    } else {
      quoted.push_back(c);
    }
  }
  quoted.push_back('"');
  return quoted;
}

// A form field's value as it reads: "C-77", 12, true, 2026-12-31 (not "string_value: ...").
class FieldValuePrinter final : public google::protobuf::TextFormat::MessagePrinter {
 public:
  void Print(const Message& message, bool /*single_line_mode*/,
             google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    v1::FieldValue value;
    value.CopyFrom(message);
    switch (value.value_case()) {
      case v1::FieldValue::kStringValue:
        generator->PrintString(Quoted(value.string_value()));
        break;
      case v1::FieldValue::kIntegerValue:
        generator->PrintString(absl::StrCat(value.integer_value()));
        break;
      case v1::FieldValue::kBooleanValue:
        generator->PrintString(value.boolean_value() ? "true" : "false");
        break;
      case v1::FieldValue::kDateValue:
        generator->PrintString(internal::FormatDate(value.date_value()));
        break;
      default:
        generator->PrintString("(no value)");
    }
  }
};

// A message that reads as one value, not as a record of fields.
bool IsValueType(const google::protobuf::Descriptor* type) {
  return type == google::protobuf::Timestamp::descriptor() || type == v1::Date::descriptor() ||
         type == v1::FieldValue::descriptor();
}

// Times and dates inside a record read as values ("time: 2026-12-05T09:30:00Z"), not as
// records ("time { ... }"); text is quoted with only what must be escaped escaped, so that
// "Summer's here" reads as written.
class ValuePrinter final : public google::protobuf::TextFormat::FastFieldValuePrinter {
 public:
  void PrintString(const std::string& value,
                   google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    generator->PrintString(Quoted(value));
  }
  // Bytes (hashes) are not text: escaped as the default printer does.
  void PrintBytes(const std::string& value,
                  google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    generator->PrintString(absl::StrCat("\"", absl::CEscape(value), "\""));
  }
  void PrintMessageStart(
      const Message& message, int field_index, int field_count, bool single_line_mode,
      google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    if (IsValue(message)) {
      generator->PrintLiteral(": ");
      return;
    }
    FastFieldValuePrinter::PrintMessageStart(message, field_index, field_count, single_line_mode,
                                             generator);
  }
  void PrintMessageEnd(const Message& message, int field_index, int field_count,
                       bool single_line_mode,
                       google::protobuf::TextFormat::BaseTextGenerator* generator) const override {
    if (IsValue(message)) {
      generator->PrintLiteral(" ");
      return;
    }
    FastFieldValuePrinter::PrintMessageEnd(message, field_index, field_count, single_line_mode,
                                           generator);
  }

 private:
  static bool IsValue(const Message& message) { return IsValueType(message.GetDescriptor()); }
};

// A field's value as one line of text.
std::string ValueText(const Message& message, const FieldDescriptor* field, int index) {
  static const google::protobuf::TextFormat::Printer* const printer = [] {
    auto* p = new google::protobuf::TextFormat::Printer();  // Never destroyed.
    p->SetSingleLineMode(true);
    p->SetDefaultFieldValuePrinter(new ValuePrinter());
    p->RegisterMessagePrinter(google::protobuf::Timestamp::descriptor(), new TimestampPrinter());
    p->RegisterMessagePrinter(v1::Date::descriptor(), new DatePrinter());
    p->RegisterMessagePrinter(v1::FieldValue::descriptor(), new FieldValuePrinter());
    return p;
  }();
  std::string text;
  printer->PrintFieldValueToString(message, field, field->is_repeated() ? index : -1, &text);
  absl::StripTrailingAsciiWhitespace(&text);
  return text;
}

// The key of a repeated record that names itself (its first field, a string "..._id":
// contacts, shares, comments, flight changes), or nullptr for a list kept by position.
const FieldDescriptor* KeyOf(const FieldDescriptor* field) {
  if (!field->is_repeated() || field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
      field->is_map()) {
    return nullptr;
  }
  const FieldDescriptor* first = field->message_type()->FindFieldByNumber(1);
  if (first == nullptr || first->is_repeated() ||
      first->cpp_type() != FieldDescriptor::CPPTYPE_STRING ||
      !absl::EndsWith(first->name(), "_id")) {
    return nullptr;
  }
  return first;
}

// Compares such lists by key, so that removing one contact reads as that contact removed,
// not as every later one shifted into its place.
void MatchRecordsByKey(const google::protobuf::Descriptor* type, MessageDifferencer* differencer,
                       std::vector<const google::protobuf::Descriptor*>* seen) {
  if (std::find(seen->begin(), seen->end(), type) != seen->end()) return;
  seen->push_back(type);
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (const FieldDescriptor* key = KeyOf(field)) differencer->TreatAsMap(field, key);
    MatchRecordsByKey(field->message_type(), differencer, seen);
  }
}

// Collects what MessageDifferencer finds as FieldChanges, naming records by key where they
// have one ("contacts[carol].email") and by position otherwise ("scripts[0].text").
class ChangeCollector : public MessageDifferencer::Reporter {
 public:
  ChangeCollector(const Message& before, const Message& after,
                  std::vector<v1::FieldChange>* changes)
      : before_(before), after_(after), changes_(changes) {}

  void ReportAdded(const Message& /*before*/, const Message& after,
                   const std::vector<MessageDifferencer::SpecificField>& path) override {
    if (AddWhole(path)) return;
    Add(path, nullptr, &after);
  }
  void ReportDeleted(const Message& before, const Message& /*after*/,
                     const std::vector<MessageDifferencer::SpecificField>& path) override {
    if (AddWhole(path)) return;
    Add(path, &before, nullptr);
  }
  void ReportModified(const Message& before, const Message& after,
                      const std::vector<MessageDifferencer::SpecificField>& path) override {
    if (AddWhole(path)) return;
    // A message that changed inside is reported field by field below it.
    if (!path.empty() && path.back().field != nullptr &&
        path.back().field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return;
    }
    Add(path, &before, &after);
  }

 private:
  // Times and dates are values, not records: a change inside one ("updated_time.nanos") is
  // reported once, as the whole value before and after. True when `path` was such a change.
  bool AddWhole(const std::vector<MessageDifferencer::SpecificField>& path) {
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      const FieldDescriptor* field = path[i].field;
      if (field == nullptr || field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
          !IsValueType(field->message_type())) {
        continue;
      }
      const std::vector<MessageDifferencer::SpecificField> whole(path.begin(),
                                                                 path.begin() + i + 1);
      // The records holding the value on each side.
      const Message* old_holder = &before_;
      const Message* new_holder = &after_;
      for (size_t j = 0; j < i; ++j) {
        old_holder = Child(old_holder, whole[j].field, whole[j].index);
        new_holder = Child(new_holder, whole[j].field, whole[j].new_index);
      }
      const std::string last = changes_->empty() ? "" : changes_->back().path();
      const size_t reported = changes_->size();
      Add(whole, old_holder, new_holder);
      // Seconds and nanos both changed: the second report is the first again.
      if (reported > 0 && changes_->size() > reported && changes_->back().path() == last) {
        changes_->pop_back();
      }
      return true;
    }
    return false;
  }

  void Add(const std::vector<MessageDifferencer::SpecificField>& path, const Message* before,
           const Message* after) {
    if (path.empty() || path.back().field == nullptr) return;  // Unknown fields: none here.
    v1::FieldChange change;
    std::string name;
    // The records along the path on each side, to name keyed ones by their key.
    const Message* old_side = &before_;
    const Message* new_side = &after_;
    bool in_map_entry = false;  // The last part named a map's entry: "fields[station]".
    for (const MessageDifferencer::SpecificField& part : path) {
      // A map entry's value is the entry: "fields[station]", not "fields[station].value".
      const bool entry_value = in_map_entry && part.field != nullptr &&
                               part.field->containing_type()->map_value() == part.field;
      in_map_entry = false;
      if (!entry_value) {
        if (!name.empty()) name.push_back('.');
        name.append(part.field == nullptr ? "?" : part.field->name());
      }
      if (part.field == nullptr) {
        old_side = new_side = nullptr;
        continue;
      }
      const FieldDescriptor* key =
          part.field->is_map() ? part.field->message_type()->map_key() : KeyOf(part.field);
      // An element added (or removed) is on one side only: its index on the other side names
      // another element there (a map's entry under another key).
      const bool last = &part == &path.back();
      const Message* old_record =
          last && before == nullptr ? nullptr : Child(old_side, part.field, part.index);
      const Message* new_record =
          last && after == nullptr ? nullptr : Child(new_side, part.field, part.new_index);
      if (part.field->is_repeated()) {
        const Message* named = old_record != nullptr ? old_record : new_record;
        in_map_entry = part.field->is_map();
        if (key != nullptr && named != nullptr && part.field->is_map()) {
          std::string key_text;
          google::protobuf::TextFormat::PrintFieldValueToString(*named, key, -1, &key_text);
          absl::StrAppend(&name, "[",
                          absl::StripAsciiWhitespace(
                              absl::StripPrefix(absl::StripSuffix(key_text, "\""), "\"")),
                          "]");
        } else if (key != nullptr && named != nullptr) {
          absl::StrAppend(&name, "[", named->GetReflection()->GetString(*named, key), "]");
        } else {
          absl::StrAppend(&name, "[", after != nullptr ? part.new_index : part.index, "]");
        }
      }
      old_side = old_record;
      new_side = new_record;
    }
    change.set_path(name);
    // The messages MessageDifferencer reports are the ones holding the path's last field.
    const FieldDescriptor* field = path.back().field;
    const auto value = [&](const Message& holder, int index) {
      // A whole map entry reads as its value; its key is in the path.
      if (field->is_map()) {
        if (const Message* entry = Child(&holder, field, index)) {
          return ValueText(*entry, field->message_type()->map_value(), -1);
        }
      }
      return ValueText(holder, field, index);
    };
    if (before != nullptr) change.set_old_value(value(*before, path.back().index));
    if (after != nullptr) change.set_new_value(value(*after, path.back().new_index));
    changes_->push_back(std::move(change));
  }

  // The message `field` holds in `parent` (at `index` if repeated); nullptr where there is none.
  static const Message* Child(const Message* parent, const FieldDescriptor* field, int index) {
    if (parent == nullptr || field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
        field->containing_type() != parent->GetDescriptor()) {
      return nullptr;
    }
    const google::protobuf::Reflection* reflection = parent->GetReflection();
    if (!field->is_repeated()) return &reflection->GetMessage(*parent, field);
    if (index < 0 || index >= reflection->FieldSize(*parent, field)) return nullptr;
    return &reflection->GetRepeatedMessage(*parent, field, index);
  }

  const Message& before_;
  const Message& after_;
  std::vector<v1::FieldChange>* changes_;
};

}  // namespace

std::string FormatDigest(const v1::LogDigest& digest) {
  return absl::StrCat(digest.position(), ":", digest.hash());
}

absl::StatusOr<v1::LogDigest> ParseDigest(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  uint64_t position = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &position) ||
      parts[1].size() != 2 * kHashBytes || !IsHex(parts[1])) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(text.substr(0, 100)),
                     "\" is not a digest; a digest reads <position>:<64 lowercase hex digits>, as "
                     "`spotflow audit digest` prints it"));
  }
  v1::LogDigest digest;
  digest.set_position(position);
  digest.set_hash(std::string(parts[1]));
  return digest;
}

v1::LogDigest DigestAt(uint64_t position, absl::string_view hash) {
  v1::LogDigest digest;
  digest.set_position(position);
  digest.set_hash(absl::BytesToHexString(hash));
  return digest;
}

bool Matches(const ExportFilter& filter, const v1::EventRecord& record) {
  if (!filter.stream_id.empty() && record.stream_id() != filter.stream_id) return false;
  if (!filter.actor_id.empty() && record.actor().user_id() != filter.actor_id) return false;
  if (filter.since.has_value() || filter.until.has_value()) {
    const absl::Time time = internal::ToTime(record.recorded_time());
    if (filter.since.has_value() && time < *filter.since) return false;
    if (filter.until.has_value() && time >= *filter.until) return false;
  }
  return true;
}

absl::StatusOr<std::string> ExportLine(const v1::EventRecord& record, absl::string_view bytes) {
  // Records the engine wrote carry a DomainEvent; anything else is exported by its bytes only.
  if (absl::StartsWith(record.payload_type(), "spotflow.v1.")) {
    absl::StatusOr<std::string> line = RenderLine(record, bytes, /*with_payload=*/true);
    if (line.ok()) return line;
  }
  return RenderLine(record, bytes, /*with_payload=*/false);
}

absl::Status ExportChecker::CheckDigestAt(uint64_t position, absl::string_view hash) {
  if (!digest_.has_value() || digest_->position() != position) return absl::OkStatus();
  const std::string hex = absl::BytesToHexString(hash);
  if (hex != digest_->hash()) {
    return absl::DataLossError(absl::StrCat("line ", check_.lines, ": the hash at position ",
                                            position, " is ", hex, " but the digest says ",
                                            digest_->hash(), ": the log up to position ", position,
                                            " is not the one the digest was taken of"));
  }
  check_.digest_matched = true;
  return absl::OkStatus();
}

absl::Status ExportChecker::AddLine(absl::string_view line) {
  const uint64_t number = ++check_.lines;
  auto bad = [&](uint64_t position, absl::string_view what) {
    return absl::DataLossError(
        position == 0 ? absl::StrCat("line ", number, ": ", what)
                      : absl::StrCat("line ", number, " (position ", position, "): ", what));
  };
  if (line.empty()) return bad(0, "is empty; an export has one event per line");
  v1::ExportedEvent exported;
  google::protobuf::util::JsonParseOptions options;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &exported, options);
  if (!parsed.ok()) {
    return bad(0, absl::StrCat("is not an exported event (", parsed.message().as_string(), ")"));
  }
  v1::EventRecord record;
  if (!record.ParseFromString(exported.record())) {
    return bad(exported.position(), "its record bytes are not an event record");
  }
  std::string hash;
  if (exported.hash().size() != 2 * kHashBytes || !IsHex(exported.hash())) {
    return bad(record.position(), "its hash is not 64 lowercase hex digits");
  }
  hash = absl::HexStringToBytes(exported.hash());
  if (record.previous_hash().size() != kHashBytes ||
      store::ChainHash(record.previous_hash(), exported.record()) != hash) {
    return bad(record.position(), "hash mismatch: the record's bytes or its hash were altered");
  }
  record.set_hash(hash);
  // The readable fields must say what the bytes say. Compared as messages, not as text, so
  // that another protobuf version's JSON formatting does not read as an alteration; the
  // payload (an Any) is compared unpacked. A line without a payload is what the exporter
  // writes for a payload that is not an engine event.
  const v1::ExportedEvent expected =
      ToExported(record, exported.record(), /*with_payload=*/exported.has_payload());
  if (!MessageDifferencer::Equals(exported, expected)) {
    return bad(record.position(),
               "its readable fields differ from its record bytes: the line was altered");
  }
  if (number == 1) {
    check_.first_position = record.position();
    if (record.position() == 1 && record.previous_hash() != ZeroHash()) {
      return bad(1, "the first record of a log must follow the zero hash");
    }
  } else if (record.position() <= check_.last_position) {
    return bad(record.position(),
               absl::StrCat("is out of order: it follows position ", check_.last_position));
  } else if (record.position() == check_.last_position + 1) {
    if (record.previous_hash() != previous_hash_) {
      return bad(record.position(), absl::StrCat("does not link to position ", check_.last_position,
                                                 " on the line before it"));
    }
  } else {
    check_.contiguous = false;
  }
  // A verified record's bytes hold the hash before it: the export proves both.
  RETURN_IF_ERROR(CheckDigestAt(record.position() - 1, record.previous_hash()));
  RETURN_IF_ERROR(CheckDigestAt(record.position(), hash));
  check_.last_position = record.position();
  previous_hash_ = hash;
  check_.last = DigestAt(record.position(), hash);
  return absl::OkStatus();
}

absl::StatusOr<ExportCheck> ExportChecker::Finish() const {
  if (digest_.has_value() && !check_.digest_matched) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the export does not reach position ", digest_->position(), " of the digest (it holds ",
        check_.lines == 0
            ? std::string("no events")
            : absl::StrCat("positions ", check_.first_position, " to ", check_.last_position),
        "); export a range that includes it"));
  }
  return check_;
}

absl::StatusOr<ExportCheck> CheckExport(std::istream& in,
                                        const std::optional<v1::LogDigest>& digest) {
  ExportChecker checker(digest);
  std::string line;
  while (std::getline(in, line)) RETURN_IF_ERROR(checker.AddLine(line));
  if (in.bad()) return absl::DataLossError("the export could not be read to its end");
  return checker.Finish();
}

namespace {

// Verifies [from, to] in chunks of kProgressEvery records, reporting progress between them
// (so no store iterator stays open while a caller's progress waits), with a chunk ending at
// `stop` too, whose hash goes to `at_stop`.
absl::StatusOr<store::VerifyResult> VerifyInChunks(
    const store::EventStore& store, uint64_t from, uint64_t to, const Progress& progress,
    const char* what, uint64_t stop,
    const std::function<absl::Status(const std::string& hash)>& at_stop) {
  store::VerifyResult result;
  result.first_position = from;
  const uint64_t total = to - from + 1;
  for (uint64_t next = from; next <= to;) {
    uint64_t end = std::min(to, next + kProgressEvery - 1);
    if (stop >= next && stop < end) end = stop;
    ASSIGN_OR_RETURN(store::VerifyResult chunk, store.VerifyEach(next, end, nullptr));
    result.records += chunk.records;
    result.last_position = chunk.last_position;
    result.last_hash = std::move(chunk.last_hash);
    if (end == stop && at_stop) RETURN_IF_ERROR(at_stop(result.last_hash));
    next = end + 1;
    if (progress && next <= to && !progress(next - from, total)) {
      return absl::CancelledError(absl::StrCat("the ", what, " was stopped at position ", end));
    }
  }
  if (progress) progress(result.records, total);
  return result;
}

// The verification of an empty log: nothing, ending at the zero hash of position 0.
store::VerifyResult EmptyLog() {
  store::VerifyResult result;
  result.last_hash = ZeroHash();
  return result;
}

}  // namespace

absl::StatusOr<store::VerifyResult> VerifyLog(const store::EventStore& store,
                                              uint64_t from_position, uint64_t to_position,
                                              const Progress& progress) {
  from_position = std::max<uint64_t>(from_position, 1);
  // The range is fixed now: records appended while it runs are not part of it.
  const uint64_t head = store.Head().position;
  if (to_position == 0) {
    if (head == 0 && from_position == 1) return EmptyLog();
    to_position = head;
  }
  if (to_position > head) {  // Said here: the chunks below would name their own end.
    return absl::InvalidArgumentError(
        absl::StrCat("cannot verify up to position ", to_position, "; the log ends at ", head));
  }
  if (from_position > to_position) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot verify positions ", from_position, " to ", to_position,
                     ": the range is empty (the log ends at ", head, ")"));
  }
  return VerifyInChunks(store, from_position, to_position, progress, "verification", 0, nullptr);
}

absl::StatusOr<store::VerifyResult> CheckDigest(const store::EventStore& store,
                                                const v1::LogDigest& digest,
                                                const Progress& progress) {
  RETURN_IF_ERROR(ParseDigest(FormatDigest(digest)).status());
  const uint64_t head = store.Head().position;
  if (digest.position() > head) {
    return absl::DataLossError(absl::StrCat(
        "the log ends at position ", head, " but the digest was taken at position ",
        digest.position(), ": records were removed since, or the digest is of another log"));
  }
  auto compare = [&](const std::string& hash) -> absl::Status {
    if (absl::BytesToHexString(hash) == digest.hash()) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(
        "position ", digest.position(), ": the log's hash is ", absl::BytesToHexString(hash),
        " but the digest says ", digest.hash(), ": the log up to position ", digest.position(),
        " was rewritten since the digest was taken"));
  };
  if (digest.position() == 0) RETURN_IF_ERROR(compare(ZeroHash()));
  if (head == 0) return EmptyLog();
  return VerifyInChunks(store, 1, head, progress, "check", digest.position(), compare);
}

absl::StatusOr<ExportPage> ExportEvents(const store::EventStore& store, const ExportFilter& filter,
                                        size_t max_bytes) {
  if (filter.since.has_value() && filter.until.has_value() && *filter.since >= *filter.until) {
    return absl::InvalidArgumentError("the time window is empty: since must be before until");
  }
  const uint64_t head = store.Head().position;
  const uint64_t to = filter.to_position == 0 ? head : filter.to_position;
  if (to > head) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot export up to position ", to, "; the log ends at ", head));
  }
  ExportPage page;
  page.last_position = to;
  const uint64_t from = std::max<uint64_t>(filter.from_position, 1);
  if (from > to + 1 || (filter.to_position != 0 && from > to)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot export positions ", from, " to ", to,
                                                   ": the range is empty (the log ends at ", head,
                                                   ")"));
  }
  if (from > to) {
    page.next_position = from;
    page.done = true;
    return page;
  }
  size_t bytes = 0;
  uint64_t scanned = 0;
  ASSIGN_OR_RETURN(
      store::VerifyResult verified,
      store.VerifyEach(
          from, to,
          [&](const v1::EventRecord& record, absl::string_view stored) -> absl::StatusOr<bool> {
            if (Matches(filter, record)) {
              ASSIGN_OR_RETURN(std::string line, ExportLine(record, stored));
              bytes += line.size() + 1;
              page.lines.push_back(std::move(line));
            }
            return bytes < max_bytes && ++scanned < kMaxExportScan;
          }));
  page.next_position = verified.last_position + 1;
  page.done = verified.last_position >= to;
  return page;
}

std::vector<v1::FieldChange> DiffFields(const Message& before, const Message& after,
                                        bool for_people) {
  std::vector<v1::FieldChange> changes;
  ChangeCollector collector(before, after, &changes);
  MessageDifferencer differencer;
  if (for_people) {
    // Bookkeeping; the states entered, which the change of `status` already tells; a
    // client's removed contact ids, which the contact's removal tells; and who shared an order
    // with whom, which the change of `participants` and the event's actor tell.
    for (const char* bookkeeping : {"version", "updated_time", "updated_position", "status_history",
                                    "removed_contact_ids", "participant_shares"}) {
      if (const FieldDescriptor* field = before.GetDescriptor()->FindFieldByName(bookkeeping)) {
        differencer.IgnoreField(field);
      }
    }
  }
  std::vector<const google::protobuf::Descriptor*> seen;
  MatchRecordsByKey(before.GetDescriptor(), &differencer, &seen);
  differencer.ReportDifferencesTo(&collector);
  differencer.Compare(before, after);
  return changes;
}

}  // namespace spotflow::engine
