// engine_quickstart: Spotflow's engine, embedded. Seed 000 from start to finish.
//
// Opens (or creates) a log, creates the people of a small sales office and a client, runs one
// production order from creation through script changes, the client's approval, spot approval
// and a flight-date change to archive, then prints the order's revision history. Run it again:
// the set-up commands carry request ids, so they are recognised and not repeated, and a new
// order is added beside the first.
//
//   engine_quickstart [DATA_DIR]      (default: ./var/engine-demo)
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "engine/engine.h"
#include "engine/presets.h"
#include "store/event_store.h"

namespace {

namespace engine = spotflow::engine;
namespace v1 = spotflow::v1;

v1::Date Date(int y, int m, int d) {
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

std::string Time(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

const char* ReviewName(v1::ReviewKind kind) {
  switch (kind) {
    case v1::APPROVED:
      return "approved";
    case v1::CHANGES_REQUESTED:
      return "changes requested";
    case v1::FORWARDED_TO_CLIENT:
      return "forwarded to client";
    case v1::CLIENT_APPROVED:
      return "client approved";
    case v1::CLIENT_CHANGES_REQUESTED:
      return "client asked for changes";
    case v1::CARRIED_OVER:
      return "approval carried over";
    default:
      return "?";
  }
}

class Demo {
 public:
  explicit Demo(engine::Engine* engine) : engine_(engine) {}

  // Runs `command` as `user`; set-up commands pass a request id so reruns skip them.
  absl::StatusOr<v1::CommandResult> Do(const std::string& user, v1::Command command,
                                       const std::string& request_id = "") {
    command.set_request_id(request_id);
    return engine_->Execute({user}, command);
  }

  // A set-up step that found its work done by an earlier run (a log from before request ids
  // were kept) is fine too.
  static absl::Status Once(absl::Status status) {
    return absl::IsAlreadyExists(status) ? absl::OkStatus() : status;
  }

  absl::Status SetUp() {
    v1::CreateUser admin;
    admin.set_user_id("ada");
    admin.set_display_name("Ada (administrator)");
    if (absl::Status s = engine_->Bootstrap(admin).status();
        !s.ok() && !absl::IsFailedPrecondition(s)) {
      return s;
    }
    for (auto [id, role, name] :
         {std::tuple{"mia", engine::kSalesManager, "Mia (sales manager)"},
          std::tuple{"sam", engine::kAccountExecutive, "Sam (account executive)"},
          std::tuple{"ann", engine::kSalesAssistant, "Ann (sales assistant)"},
          std::tuple{"pete", engine::kProducer, "Pete (producer)"}}) {
      v1::Command command;
      command.mutable_create_user()->set_user_id(id);
      command.mutable_create_user()->set_display_name(name);
      command.mutable_create_user()->add_roles(role);
      RETURN_IF_ERROR(Once(Do("ada", command, absl::StrCat("demo.user.", id)).status()));
    }
    v1::Command client;
    client.mutable_create_client()->set_client_id("acme");
    client.mutable_create_client()->set_name("Acme Motors");
    client.mutable_create_client()->set_kind("advertiser");
    RETURN_IF_ERROR(Once(Do("sam", client, "demo.client").status()));
    v1::Command contact;
    contact.mutable_add_contact()->set_client_id("acme");
    contact.mutable_add_contact()->mutable_contact()->set_contact_id("carol");
    contact.mutable_add_contact()->mutable_contact()->set_name("Carol (Acme marketing)");
    RETURN_IF_ERROR(Once(Do("sam", contact, "demo.contact").status()));
    v1::Command share;  // Sam lets his assistant work the account.
    share.mutable_share_client()->set_client_id("acme");
    share.mutable_share_client()->set_user_id("ann");
    return Once(Do("sam", share, "demo.share").status());
  }

  absl::StatusOr<std::string> RunOrder() {
    v1::Command create;
    v1::CreateOrder* order = create.mutable_create_order();
    order->set_kind(v1::PRODUCTION);
    order->set_client_id("acme");
    order->set_title("Winter sales event :30");
    order->set_instructions("Upbeat. Mention 0% financing in the first ten seconds.");
    order->set_spot_length_seconds(30);
    *order->mutable_flight_start() = Date(2099, 12, 1);
    *order->mutable_flight_end() = Date(2099, 12, 31);
    ASSIGN_OR_RETURN(v1::CommandResult created, Do("ann", create));
    const std::string id = created.id();
    std::printf("Ann entered order %s for Acme Motors (owner: Sam)\n", created.key().c_str());

    RETURN_IF_ERROR(
        Do("pete", Script(id, "Cold outside? Hot deals inside...", "first draft")).status());
    v1::Command changes;
    changes.mutable_request_changes()->set_order_id(id);
    changes.mutable_request_changes()->set_artifact("script");
    changes.mutable_request_changes()->set_revision(1);
    changes.mutable_request_changes()->set_comment("Lead with the 0% financing");
    RETURN_IF_ERROR(Do("sam", changes).status());
    RETURN_IF_ERROR(
        Do("pete", Script(id, "0% financing all winter! Cold outside...", "financing first"))
            .status());
    v1::Command forward;
    forward.mutable_forward_to_client()->set_order_id(id);
    forward.mutable_forward_to_client()->set_artifact("script");
    forward.mutable_forward_to_client()->set_revision(2);
    forward.mutable_forward_to_client()->set_contact_id("carol");
    RETURN_IF_ERROR(Do("sam", forward).status());
    v1::Command answer;  // Carol approves by phone; Sam records it on her behalf.
    answer.mutable_record_client_answer()->set_order_id(id);
    answer.mutable_record_client_answer()->set_artifact("script");
    answer.mutable_record_client_answer()->set_revision(2);
    answer.mutable_record_client_answer()->set_contact_id("carol");
    answer.mutable_record_client_answer()->set_approved(true);
    answer.mutable_record_client_answer()->set_comment("Approved by phone");
    RETURN_IF_ERROR(Do("sam", answer).status());
    v1::Command spot;
    spot.mutable_submit_revision()->set_order_id(id);
    spot.mutable_submit_revision()->set_artifact("spot");
    spot.mutable_submit_revision()->mutable_media()->set_uri("s3://spots/acme-winter-v1.wav");
    spot.mutable_submit_revision()->mutable_media()->set_checksum("sha256:9f2c...");
    spot.mutable_submit_revision()->mutable_media()->set_duration_ms(30000);
    RETURN_IF_ERROR(Do("pete", spot).status());
    v1::Command approve;
    approve.mutable_approve_revision()->set_order_id(id);
    approve.mutable_approve_revision()->set_artifact("spot");
    approve.mutable_approve_revision()->set_revision(1);
    // Assistants do not approve spots: a refused command writes nothing and says why.
    absl::Status refused = Do("ann", approve).status();
    std::printf("Ann tries to approve the spot: %s\n", refused.ToString().c_str());
    RETURN_IF_ERROR(Do("sam", approve).status());
    v1::Command flight;
    flight.mutable_request_flight_change()->set_order_id(id);
    *flight.mutable_request_flight_change()->mutable_new_start() = Date(2099, 12, 5);
    *flight.mutable_request_flight_change()->mutable_new_end() = Date(2100, 1, 10);
    flight.mutable_request_flight_change()->set_reason("Acme moved the sale a week");
    ASSIGN_OR_RETURN(v1::CommandResult requested, Do("sam", flight));
    v1::Command decide;
    decide.mutable_decide_flight_change()->set_order_id(id);
    decide.mutable_decide_flight_change()->set_request_id(requested.sub_id());
    decide.mutable_decide_flight_change()->set_approved(true);
    RETURN_IF_ERROR(Do("mia", decide).status());
    v1::Command deliver;
    deliver.mutable_perform_action()->set_order_id(id);
    deliver.mutable_perform_action()->set_action("deliver");
    RETURN_IF_ERROR(Do("pete", deliver).status());
    v1::Command archive;
    archive.mutable_archive_order()->set_order_id(id);
    RETURN_IF_ERROR(Do("sam", archive).status());

    return id;
  }

  absl::Status PrintHistory(const std::string& id) {
    ASSIGN_OR_RETURN(v1::OrderView order, engine_->GetOrder({"sam"}, id));
    std::printf("\n%s  \"%s\"  status=%s%s  flight %d-%02d-%02d..%d-%02d-%02d  etag=%llu\n",
                order.key().c_str(), order.title().c_str(), order.status().c_str(),
                order.archived() ? " (archived)" : "", order.flight_start().year(),
                order.flight_start().month(), order.flight_start().day(), order.flight_end().year(),
                order.flight_end().month(), order.flight_end().day(),
                static_cast<unsigned long long>(order.version()));
    for (const auto* revisions : {&order.scripts(), &order.spots()}) {
      for (const v1::Revision& r : *revisions) {
        std::printf("  %s r%u  %s by %s%s: %s\n", r.artifact().c_str(), r.number(),
                    Time(r.time()).c_str(), r.author().c_str(),
                    r.superseded() ? " (superseded)" : "",
                    r.artifact() == "script" ? r.text().c_str() : r.media().uri().c_str());
        for (const v1::Review& review : r.reviews()) {
          std::printf(
              "      %s  %s by %s%s%s%s\n", Time(review.time()).c_str(), ReviewName(review.kind()),
              review.by().c_str(),
              review.contact_id().empty() ? "" : (" for contact " + review.contact_id()).c_str(),
              review.comment().empty() ? "" : ": ", review.comment().c_str());
        }
      }
    }
    for (const v1::FlightChange& change : order.flight_changes()) {
      std::printf("  flight change %s by %s: %d-%02d-%02d..%d-%02d-%02d, %s by %s\n",
                  change.request_id().substr(0, 8).c_str(), change.requested_by().c_str(),
                  change.new_start().year(), change.new_start().month(), change.new_start().day(),
                  change.new_end().year(), change.new_end().month(), change.new_end().day(),
                  change.status() == v1::GRANTED ? "granted" : "rejected",
                  change.decided_by().c_str());
    }
    return absl::OkStatus();
  }

 private:
  static v1::Command Script(const std::string& order, const std::string& text,
                            const std::string& note) {
    v1::Command command;
    command.mutable_submit_revision()->set_order_id(order);
    command.mutable_submit_revision()->set_artifact("script");
    command.mutable_submit_revision()->set_text(text);
    command.mutable_submit_revision()->set_change_note(note);
    return command;
  }

  engine::Engine* engine_;
};

absl::Status Run(const std::string& dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<spotflow::store::EventStore> store,
                   spotflow::store::EventStore::Open({}, dir));
  engine::SystemClock clock;
  engine::RandomIdGenerator ids;
  ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> engine,
                   engine::Engine::Open({}, store.get(), &clock, &ids));
  std::printf("Opened %s: the log holds %llu records\n", dir.c_str(),
              static_cast<unsigned long long>(engine->position()));
  Demo demo(engine.get());
  RETURN_IF_ERROR(demo.SetUp());
  ASSIGN_OR_RETURN(std::string order, demo.RunOrder());
  RETURN_IF_ERROR(demo.PrintHistory(order));
  ASSIGN_OR_RETURN(spotflow::store::VerifyResult verified,
                   engine->VerifyLog({"ada"}, 1, 0, nullptr));
  std::printf("\nThe log now holds %llu records; the hash chain verifies.\n",
              static_cast<unsigned long long>(verified.records));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "./var/engine-demo";
  if (absl::Status status = Run(dir); !status.ok()) {
    std::fprintf(stderr, "engine_quickstart: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
