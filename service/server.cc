#include "service/server.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "openssl/sha.h"
#include "proto/service.grpc.pb.h"
#include "service/internal/executor.h"
#include "service/internal/pem.h"
#include "service/requests.h"
#include "service/status.h"
#include "spdlog/spdlog.h"

namespace spotflow::service {
namespace {

using engine::Principal;
using internal::Executor;
namespace v1 = ::spotflow::v1;

// The SHA-256 of `order`'s deterministic bytes (maps in a fixed order): what WatchOrder keeps
// of a view it sent, to tell whether the next one differs.
std::string ShownDigest(const v1::OrderView& order) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream output(&bytes);
    google::protobuf::io::CodedOutputStream coded(&output);
    coded.SetSerializationDeterministic(true);
    order.SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

// Server streams are registered raw (Calls::Register): their messages go out as bytes.
template <typename Message>
void ToWire(const Message& message, grpc::ByteBuffer* wire) {
  wire->Clear();  // The serializer writes only into an empty buffer.
  bool own = false;
  grpc::Status serialized = grpc::SerializationTraits<Message>::Serialize(message, wire, &own);
  // Serializing a message this process built fails only past protobuf's 2 GB limit, which the
  // batches (kMaxBatchBytes) stay far below.
  (void)serialized;
}

// The request of a raw call (unary or stream): its bytes parsed as the method's request, or
// INVALID_ARGUMENT for bytes that are not one, or for a call that sent no message at all
// (gRPC hands a raw handler an empty buffer then, which would parse as a default request).
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> ParseRaw(
    const google::protobuf::MethodDescriptor& method, const grpc::ByteBuffer& in) {
  if (!in.Valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the call carries no ", method.input_type()->full_name(), "; send one request message"));
  }
  grpc::ByteBuffer bytes(in);
  grpc::ProtoBufferReader reader(&bytes);
  return ParseRequest(method, &reader);
}

// What a server stream's task writes through. Write blocks until the message is sent (one
// write outstanding at a time, so a slow reader slows its task instead of growing the
// server's memory) and returns false once the client has gone.
template <typename Message>
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual bool Write(const Message& message) = 0;
  virtual bool cancelled() = 0;
};

// A server stream whose messages come from a finite task that may block for long (an audit
// run over the whole log): the task runs on the stream's own thread, never in a reaction and
// never on the executor, and its status ends the stream. Live feeds, which may stay open for
// days, use LiveWriter instead and hold no thread.
template <typename Message>
class TaskWriter final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                         public StreamSink<Message> {
 public:
  using Task = std::function<absl::Status(StreamSink<Message>&)>;

  TaskWriter(Task task, std::function<void()> on_done)
      : task_(std::move(task)), on_done_(std::move(on_done)) {
    thread_ = std::thread([this] { this->Finish(ToGrpcStatus(task_(*this))); });
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) cancelled_ = true;
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  void OnDone() override {
    thread_.join();
    on_done_();
    delete this;
  }

  bool cancelled() override {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

  bool Write(const Message& message) override {
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return false;
      ToWire(message, &wire_);
      writing_ = true;
    }
    // Not under mu_: gRPC may run OnWriteDone on this thread.
    this->StartWrite(&wire_);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](TaskWriter* w)
             ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) { return !w->writing_ || w->cancelled_; },
        this));
    if (cancelled_ && writing_) {
      // The write will complete (as failed) before OnDone; wait for it so wire_ lives.
      mu_.Await(absl::Condition(
          +[](TaskWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) { return !w->writing_; }, this));
    }
    return !cancelled_;
  }

 private:
  Task task_;
  std::function<void()> on_done_;
  absl::Mutex mu_;
  grpc::ByteBuffer wire_ ABSL_GUARDED_BY(mu_);  // The write outstanding.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// A live feed as Feeds sees it: woken to take its next step, or finish when cancelled.
class Parkable {
 public:
  virtual ~Parkable() = default;
  virtual void Wake() = 0;
  virtual bool cancelled() const = 0;
};

// Where live feeds wait for something new without a thread each: a feed that has sent
// everything parks with the projected position it read at, and one thread, waiting on the
// engine's position while any feed is parked, wakes the feeds the new records concern: a
// feed watching one order wakes for that order and for changes beyond orders (which may
// change who sees it), any other feed for every change. Feeds wake on what the projections
// hold, not on the log's head: should projecting a committed record fail (the command that
// wrote it is answered with that error), a parked event subscriber gets that record with the
// next projection, not before. Thread-safe.
class Feeds {
 public:
  explicit Feeds(engine::Engine* engine) : engine_(engine), seen_(engine->position()) {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "spotflow-feeds");
      Loop();
    });
  }
  ~Feeds() {
    Stop();
    thread_.join();
  }

  // Parks `feed`, which has sent what the projections held at `position`, until they pass
  // it with a change `order_id` names (empty: any change). Wakes it at once when that may
  // already have happened, when it was cancelled, or when the feeds are stopping.
  void Park(Parkable* feed, uint64_t position, const std::string& order_id) {
    {
      absl::MutexLock lock(&mu_);
      // Cancellation is checked under mu_, which Unpark takes after it is set: a feed is
      // either seen cancelled here or found parked there.
      if (!stopping_ && !feed->cancelled() && position >= seen_) {
        parked_[feed] = {position, order_id};
        return;
      }
    }
    feed->Wake();
  }

  // Wakes `feed` if it is parked: a cancelled feed finishes at its next step.
  void Unpark(Parkable* feed) {
    bool parked;
    {
      absl::MutexLock lock(&mu_);
      parked = parked_.erase(feed) > 0;
    }
    if (parked) feed->Wake();
  }

  // Wakes every parked feed and parks none from now on: the server is shutting down, and
  // live feeds, which never end on their own, end at their next step (stopping()).
  void Stop() {
    std::vector<Parkable*> woken;
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      for (const auto& [feed, parked] : parked_) woken.push_back(feed);
      parked_.clear();
    }
    for (Parkable* feed : woken) feed->Wake();
  }

  bool stopping() const {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

 private:
  struct Parked {
    uint64_t position;
    std::string order_id;
  };

  void Loop() {
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      seen = seen_;
    }
    while (true) {
      {
        // With nothing parked there is nothing to wait for on the engine.
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Feeds* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(f->mu_) {
              return f->stopping_ || !f->parked_.empty();
            },
            this));
        if (stopping_) return;
      }
      // Times out every 100 ms to notice stopping_ and feeds that left.
      if (!engine_->WaitForPosition(seen, absl::Milliseconds(100))) continue;
      const engine::Engine::Changes changes = engine_->ChangedSince(seen);
      const uint64_t now = changes.position;
      const absl::flat_hash_set<std::string> orders(changes.order_ids.begin(),
                                                    changes.order_ids.end());
      seen = now;
      std::vector<Parkable*> woken;
      {
        absl::MutexLock lock(&mu_);
        seen_ = now;
        for (auto it = parked_.begin(); it != parked_.end();) {
          const Parked& parked = it->second;
          if (parked.position < now && (parked.order_id.empty() || changes.beyond_orders ||
                                        orders.contains(parked.order_id))) {
            woken.push_back(it->first);
            parked_.erase(it++);
          } else {
            ++it;
          }
        }
      }
      for (Parkable* feed : woken) feed->Wake();
    }
  }

  engine::Engine* const engine_;
  mutable absl::Mutex mu_;
  uint64_t seen_ ABSL_GUARDED_BY(mu_);  // The position the feeds thread last saw.
  absl::flat_hash_map<Parkable*, Parked> parked_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// A live server stream (WatchOrder, SubscribeEvents) that holds no thread. Each step runs on
// the executor: it reads what there is to send without waiting, and either writes it (one
// write outstanding, so a slow reader only slows its own feed and the server's memory does
// not grow) and steps again when the write is done, or parks in Feeds until the projections
// move. The status of a failed read ends the stream.
template <typename Message>
class LiveWriter final : public grpc::ServerWriteReactor<grpc::ByteBuffer>, public Parkable {
 public:
  // The next message to send, nullopt when there is nothing new, or the error that ends the
  // stream. Never waits.
  using Read = std::function<absl::StatusOr<std::optional<Message>>()>;
  // Run at the first step: checks access and returns the feed's Read. It may set the order
  // the feed watches to that order's id (the feed was asked for it by its key).
  using Open = std::function<absl::StatusOr<Read>(std::string* order_id)>;

  // `order_id`: the order the feed watches (it wakes for that order's changes, which the
  // engine names by id); empty: the feed wakes for every change.
  LiveWriter(const char* method, std::string user, std::string order_id, Open open,
             engine::Engine* engine, Feeds* feeds, Executor* executor,
             std::function<void()> on_done)
      : method_(method),
        user_(std::move(user)),
        order_id_(std::move(order_id)),
        open_(std::move(open)),
        engine_(engine),
        feeds_(feeds),
        executor_(executor),
        on_done_(std::move(on_done)) {
    Wake();
  }

  void Wake() override {
    // The executor's queue has room for a step of every stream (Calls), so this holds.
    if (!executor_->TrySchedule([this] { Step(); })) {
      End(absl::UnavailableError("the server is stopping"));
    }
  }
  bool cancelled() const override { return cancelled_.load(); }

  void OnWriteDone(bool ok) override {
    if (!ok) cancelled_ = true;
    Wake();
  }
  void OnCancel() override {
    cancelled_ = true;
    feeds_->Unpark(this);
  }
  void OnDone() override {
    on_done_();
    delete this;
  }

 private:
  void Step() {
    if (cancelled_) return End(absl::CancelledError("the client cancelled the stream"));
    if (feeds_->stopping()) {
      return End(absl::UnavailableError("the server is shutting down; reconnect to resume"));
    }
    if (read_ == nullptr) {
      absl::StatusOr<Read> opened = open_(&order_id_);
      if (!opened.ok()) return End(opened.status());
      read_ = *std::move(opened);
    }
    // Read after noting the position: whatever comes later wakes the feed.
    const uint64_t position = engine_->position();
    absl::StatusOr<std::optional<Message>> next = read_();
    if (!next.ok()) return End(next.status());
    if (!next->has_value()) return feeds_->Park(this, position, order_id_);
    ToWire(**next, &wire_);
    this->StartWrite(&wire_);
  }

  // After this, nothing touches `this`: OnDone may delete it.
  void End(const absl::Status& status) {
    if (!absl::IsCancelled(status)) {
      spdlog::info("{} by {}: {} {}", method_, user_, absl::StatusCodeToString(status.code()),
                   std::string(status.message()));
    }
    this->Finish(ToGrpcStatus(status));
  }

  const char* const method_;
  const std::string user_;
  std::string order_id_;  // Set before the first step's open, and by it only.
  Open open_;
  Read read_;
  engine::Engine* const engine_;
  Feeds* const feeds_;
  Executor* const executor_;
  std::function<void()> on_done_;
  std::atomic<bool> cancelled_{false};
  grpc::ByteBuffer wire_;  // The write outstanding; steps and writes never overlap.
};

// A stream refused before it started.
class RefusedWriter final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedWriter(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

// Stream batches: up to this many records; list pages: up to about this many bytes.
constexpr size_t kBatchRecords = 100;
constexpr size_t kMaxBatchBytes = size_t{1} << 20;

// Everything the services share: authentication, limits, the executor, and the conversion of
// a request into an engine command. One instance per server.
class Calls {
 public:
  Calls(const ServerOptions& options, engine::Engine* engine, TokenStore* tokens)
      : options_(options),
        engine_(engine),
        tokens_(tokens),
        // Calls::Start bounds the calls in flight and AdmitStream the streams, each with at
        // most one step queued; the queue only has to hold them all.
        executor_(options.worker_threads,
                  options.max_calls_in_flight + options.max_streams + options.worker_threads),
        feeds_(engine) {}

  engine::Engine* engine() const { return engine_; }

  // Returns once every unary call started has been answered.
  void AwaitAnswered() const {
    while (in_flight_.load() != 0) absl::SleepFor(absl::Milliseconds(1));
  }

  // A new token for an active user, by an administrator; only its hash is kept.
  absl::StatusOr<std::string> IssueToken(const Principal& principal, const std::string& user) {
    RETURN_IF_ERROR(engine_->Authorize(principal, v1::ADMIN_CONFIGURE));
    RETURN_IF_ERROR(engine_->CheckActiveUser(user));
    if (options_.tokens_file.empty()) {
      return absl::FailedPreconditionError("this server was started without a token file");
    }
    ASSIGN_OR_RETURN(std::string token, tokens_->Issue(options_.tokens_file, user));
    // The log keeps who issued a token for whom, and when; never the token.
    v1::Command record;
    record.mutable_record_token_issued()->set_user_id(user);
    record.mutable_record_token_issued()->set_token_hash_prefix(TokenStore::HashPrefix(token));
    RETURN_IF_ERROR(engine_->Execute(principal, record).status());
    spdlog::info("IssueToken by {}: a new token for {}", principal.user_id, user);
    return token;
  }

  // Revokes the token of `user` whose hash starts with `hash_prefix`, by an administrator
  // calling with `context`'s token: it leaves the token file, and the log records it.
  absl::StatusOr<std::string> RevokeToken(const Principal& principal,
                                          const grpc::CallbackServerContext& context,
                                          const std::string& user, const std::string& hash_prefix) {
    RETURN_IF_ERROR(engine_->Authorize(principal, v1::ADMIN_CONFIGURE));
    // Named, not the caller by default (as GetUser takes an empty id): a revocation says whose.
    if (user.empty()) return absl::InvalidArgumentError("user_id is required");
    ASSIGN_OR_RETURN(const v1::UserView view, engine_->GetUser(principal, user));
    if (options_.tokens_file.empty()) {
      return absl::FailedPreconditionError("this server was started without a token file");
    }
    ASSIGN_OR_RETURN(const std::string prefix, TokenStore::NormalizePrefix(hash_prefix, user));
    // Special case: an administrator revoking the token they call with would lock themselves
    // out at once, perhaps as the only administrator.
    const auto& metadata = context.client_metadata();
    if (auto it = metadata.find("authorization");
        it != metadata.end() && user == principal.user_id &&
        absl::StartsWith(TokenStore::HashOfAuthorization(
                             absl::string_view(it->second.data(), it->second.size())),
                         prefix)) {
      return absl::FailedPreconditionError(
          "this call is made with the token it would revoke; issue yourself another token, "
          "call with that one, and revoke this one then");
    }
    absl::StatusOr<std::string> hash = tokens_->Revoke(options_.tokens_file, user, prefix);
    if (absl::IsNotFound(hash.status())) {
      // Out of the file already, yet not recorded as revoked: an earlier revocation whose
      // record failed, or a line an operator removed. Recording it finishes the job.
      std::vector<std::string> unrecorded;
      for (const v1::IssuedToken& token : view.tokens()) {
        if (!token.has_revoked_time() && absl::StartsWith(prefix, token.token_hash_prefix())) {
          unrecorded.push_back(token.token_hash_prefix());
        }
      }
      if (unrecorded.size() == 1) hash = unrecorded[0];
      for (const v1::IssuedToken& token : view.tokens()) {
        if (!hash.ok() && token.has_revoked_time() &&
            absl::StartsWith(prefix, token.token_hash_prefix())) {
          return absl::FailedPreconditionError(
              absl::StrCat("token ", token.token_hash_prefix(), " of user ", user,
                           " was revoked already, by ", token.revoked_by(), " at ",
                           absl::FormatTime(absl::RFC3339_sec,
                                            absl::FromUnixSeconds(token.revoked_time().seconds()),
                                            absl::UTCTimeZone())));
        }
      }
    }
    if (!hash.ok()) return hash.status();
    v1::Command record;
    record.mutable_record_token_revoked()->set_user_id(user);
    record.mutable_record_token_revoked()->set_token_hash_prefix(hash->substr(0, 12));
    // The token no longer works whatever happens here; a failed record is finished by
    // revoking it again.
    RETURN_IF_ERROR(engine_->Execute(principal, record).status());
    spdlog::info("RevokeToken by {}: token {} of {}", principal.user_id, hash->substr(0, 12), user);
    return hash->substr(0, 12);
  }

  // Where a call's work runs: on the executor when it may block (a query's reads), or in the
  // reaction itself when it never waits (a command that can decide at once; see Mutate),
  // which saves waking a worker for it.
  enum class Run { kOnExecutor, kInReaction };

  // Authenticates, checks the size and the bound on calls in flight, and runs
  // `work(principal, finish)` where `run` says; nothing that may block runs in a reaction.
  // `work` answers by calling `finish` once, at once or later from any thread (a command
  // answers when its events are durable).
  using FinishFn = std::function<void(const absl::Status&)>;
  template <typename Request, typename Work>
  grpc::ServerUnaryReactor* Start(const char* method, grpc::CallbackServerContext* context,
                                  const Request* request, Run run, Work work) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    absl::StatusOr<std::string> user = Authenticate(*context);
    if (!user.ok()) return Finish(method, "-", context, reactor, user.status());
    if (request->ByteSizeLong() > static_cast<size_t>(options_.max_message_bytes)) {
      return Finish(method, *user, context, reactor,
                    absl::InvalidArgumentError(
                        absl::StrCat("the request is ", request->ByteSizeLong(),
                                     " bytes; the limit is ", options_.max_message_bytes)));
    }
    if (in_flight_.fetch_add(1) >= options_.max_calls_in_flight) {
      in_flight_.fetch_sub(1);
      return Finish(method, *user, context, reactor, Overloaded());
    }
    FinishFn finish = [this, method, context, reactor, user = *user](const absl::Status& status) {
      Finish(method, user, context, reactor, status);
      in_flight_.fetch_sub(1);
    };
    if (run == Run::kInReaction) {
      work(Principal{*user}, *request, std::move(finish));
    } else {
      OnExecutor(context, finish,
                 [request, work = std::move(work), finish, user = *user]() mutable {
                   work(Principal{user}, *request, std::move(finish));
                 });
    }
    return reactor;
  }

  // Runs `task` on the executor, unless the call is cancelled by then (`finish` answers
  // CANCELLED) or the executor is full (RESOURCE_EXHAUSTED).
  void OnExecutor(grpc::CallbackServerContext* context, const FinishFn& finish,
                  std::function<void()> task) {
    const bool scheduled =
        executor_.TrySchedule([context, finish, task = std::move(task)]() mutable {
          // A call the client gave up on (or a drain past its grace) is not started.
          if (context->IsCancelled()) return finish(absl::CancelledError("the call was cancelled"));
          task();
        });
    if (!scheduled) finish(Overloaded());
  }

  absl::Status Overloaded() const {
    return absl::ResourceExhaustedError(absl::StrCat("the server is at its limit of ",
                                                     options_.max_calls_in_flight,
                                                     " calls in flight; retry with backoff"));
  }

  // A call answered by `fn(principal, request, response)` on the executor.
  template <typename Request, typename Response, typename Fn>
  grpc::ServerUnaryReactor* Call(const char* method, grpc::CallbackServerContext* context,
                                 const Request* request, Response* response, Fn fn) {
    return Start(
        method, context, request, Run::kOnExecutor,
        [response, fn = std::move(fn)](const Principal& principal, const Request& r,
                                       FinishFn finish) { finish(fn(principal, r, response)); });
  }

  // A method that changes something: its request's body becomes the engine command of the
  // same name, with the etag and the request id. The answer goes out from the store's
  // completion thread once the events are durable, so no thread waits for a sync. Deciding
  // is in memory, and the reaction does it when the engine can at once
  // (Engine::TryExecuteAsync); a command that would wait (for the engine's state, a request
  // id's lookup in the log, a bulk reassignment) goes to the executor.
  template <typename Request>
  grpc::ServerUnaryReactor* Mutate(const char* method, grpc::CallbackServerContext* context,
                                   const Request* request, v1::CommandResult* response) {
    return Start(
        method, context, request, Run::kInReaction,
        [this, context, response](const Principal& principal, const Request& r, FinishFn finish) {
          v1::Command command;
          if (absl::Status converted = ToCommand(r, &command); !converted.ok()) {
            return finish(converted);
          }
          engine::Engine::ExecuteCallback answer =
              [response, finish](absl::StatusOr<v1::CommandResult> result) {
                if (result.ok()) *response = *std::move(result);
                finish(result.status());
              };
          if (engine_->TryExecuteAsync(principal, command, answer)) return;
          OnExecutor(context, finish,
                     [this, principal, command = std::move(command), answer = std::move(answer)] {
                       engine_->ExecuteAsync(principal, command, answer);
                     });
        });
  }

  // Starts a server stream whose task runs on its own thread (TaskWriter): `make(principal)`,
  // run on that thread, checks access and returns the task, or the error that ends the
  // stream. For finite runs (the audit streams); they hold their thread until done.
  template <typename Message, typename Make>
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Stream(const char* method,
                                                     grpc::CallbackServerContext* context,
                                                     Make make) {
    absl::StatusOr<std::string> user = AdmitStream(method, context);
    if (!user.ok()) return new RefusedWriter(user.status());
    if (audit_runs_.fetch_add(1) >= options_.max_audit_runs) {
      audit_runs_.fetch_sub(1);
      ReleaseStream(*user);
      const absl::Status busy = absl::ResourceExhaustedError(
          absl::StrCat("the server is running its limit of ", options_.max_audit_runs,
                       " audit runs at once; retry when one has finished"));
      spdlog::info("{} by {}: {} {}", method, *user, absl::StatusCodeToString(busy.code()),
                   std::string(busy.message()));
      return new RefusedWriter(busy);
    }
    auto run = [method, user = *user,
                make = std::move(make)](StreamSink<Message>& sink) -> absl::Status {
      absl::StatusOr<typename TaskWriter<Message>::Task> task = make(Principal{user});
      if (!task.ok()) {
        spdlog::info("{} by {}: {} {}", method, user,
                     absl::StatusCodeToString(task.status().code()),
                     std::string(task.status().message()));
        return task.status();
      }
      return (*task)(sink);
    };
    return new TaskWriter<Message>(std::move(run), [this, user = *user] {
      audit_runs_.fetch_sub(1);
      ReleaseStream(user);
    });
  }

  // Starts a live feed (LiveWriter), which holds no thread: `open(principal)`, run on the
  // executor at its first step, checks access and returns what reads the feed.
  // `order_id` names the order the feed watches; empty: every change may concern it.
  template <typename Message, typename Open>
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Live(const char* method,
                                                   grpc::CallbackServerContext* context,
                                                   const std::string& order_id, Open open) {
    absl::StatusOr<std::string> user = AdmitStream(method, context);
    if (!user.ok()) return new RefusedWriter(user.status());
    return new LiveWriter<Message>(
        method, *user, order_id,
        [open = std::move(open), user = *user](std::string* watched) {
          return open(Principal{user}, watched);
        },
        engine_, &feeds_, &executor_, [this, user = *user] { ReleaseStream(user); });
  }

  // Live feeds end (UNAVAILABLE) at their next step: for a drain, which they would otherwise
  // hold until its deadline.
  void StopFeeds() { feeds_.Stop(); }

  // A typed unary method: what a raw call hands its parsed request to.
  using Typed = std::function<grpc::ServerUnaryReactor*(
      grpc::CallbackServerContext*, const google::protobuf::Message*, google::protobuf::Message*)>;

  // Every unary method is registered raw (Register), so that the request's bytes are parsed
  // here: bytes that are not the method's request get INVALID_ARGUMENT naming the type (gRPC's
  // own parsing would answer UNIMPLEMENTED with no message). The parsed request then goes to
  // the typed method, and its typed response back out as bytes in Finish.
  grpc::ServerUnaryReactor* Raw(const google::protobuf::MethodDescriptor* method,
                                grpc::CallbackServerContext* context, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out, const Typed& typed) {
    absl::StatusOr<std::unique_ptr<google::protobuf::Message>> parsed = ParseRaw(*method, *in);
    if (!parsed.ok()) {
      return Finish(method->name().c_str(), "-", context, context->DefaultReactor(),
                    parsed.status());
    }
    auto call = std::make_unique<RawCall>();
    call->out = out;
    call->request = *std::move(parsed);
    auto* factory = google::protobuf::MessageFactory::generated_factory();
    call->response.reset(factory->GetPrototype(method->output_type())->New());
    const google::protobuf::Message* request = call->request.get();
    google::protobuf::Message* response = call->response.get();
    {
      absl::MutexLock lock(&raw_mu_);
      raw_calls_[context] = std::move(call);
    }
    return typed(context, request, response);
  }

  // A typed server-streaming method: what a raw stream hands its parsed request to.
  using TypedStream = std::function<grpc::ServerWriteReactor<grpc::ByteBuffer>*(
      grpc::CallbackServerContext*, const google::protobuf::Message*)>;

  // Marks the methods of `service` raw, each handing over to its entry in `typed` (unary) or
  // `streams` (server streams, whose requests are parsed here too and refused the same way).
  void Register(const char* full_name, const std::map<std::string, Typed>& typed,
                const std::map<std::string, TypedStream>& streams,
                const std::function<void(int, grpc::internal::MethodHandler*)>& mark) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(full_name);
    for (int i = 0; i < descriptor->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = descriptor->method(i);
      if (method->server_streaming() && !method->client_streaming()) {
        auto stream = streams.find(method->name());
        if (stream == streams.end()) continue;
        TypedStream handler = stream->second;
        mark(i,
             new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                 [method, handler](grpc::CallbackServerContext* context, const grpc::ByteBuffer* in)
                     -> grpc::ServerWriteReactor<grpc::ByteBuffer>* {
                   absl::StatusOr<std::unique_ptr<google::protobuf::Message>> parsed =
                       ParseRaw(*method, *in);
                   if (!parsed.ok()) {
                     spdlog::info("{} by -: {} {}", method->name(),
                                  absl::StatusCodeToString(parsed.status().code()),
                                  std::string(parsed.status().message()));
                     return new RefusedWriter(parsed.status());
                   }
                   // The typed method copies what it needs from the request.
                   return handler(context, parsed->get());
                 }));
        continue;
      }
      if (method->server_streaming() || method->client_streaming()) continue;
      auto it = typed.find(method->name());
      if (it == typed.end()) continue;
      Typed handler = it->second;
      mark(i, new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
                  [this, method, handler](grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
                    return Raw(method, context, in, out, handler);
                  }));
    }
  }

  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    absl::StatusOr<std::string> user = Authenticate(*context);
    return Finish("Ping", user.ok() ? *user : "-", context, reactor, user.status());
  }

 private:
  absl::StatusOr<std::string> Authenticate(const grpc::CallbackServerContext& context) const {
    const auto& metadata = context.client_metadata();
    auto it = metadata.find("authorization");
    if (it == metadata.end()) return tokens_->Authenticate("");
    return tokens_->Authenticate(absl::string_view(it->second.data(), it->second.size()));
  }

  grpc::ServerUnaryReactor* Finish(const char* method, const std::string& user,
                                   grpc::CallbackServerContext* context,
                                   grpc::ServerUnaryReactor* reactor, const absl::Status& status) {
    // A raw call (Raw below): the typed response goes out as the call's bytes.
    std::unique_ptr<RawCall> raw;
    {
      absl::MutexLock lock(&raw_mu_);
      if (auto it = raw_calls_.find(context); it != raw_calls_.end()) {
        raw = std::move(it->second);
        raw_calls_.erase(it);
      }
    }
    if (raw != nullptr && status.ok()) {
      const std::string bytes = raw->response->SerializeAsString();
      grpc::Slice slice(bytes);
      *raw->out = grpc::ByteBuffer(&slice, 1);
    }
    if (!status.ok()) {
      // Never the token: only the user it named, where the call came from, the method and the
      // outcome. A refused credential or right is a warning: repeated, it is someone trying.
      const spdlog::level::level_enum level =
          absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status) ? spdlog::level::warn
                                                                              : spdlog::level::info;
      spdlog::log(level, "{} by {} from {}: {} {}", method, user, context->peer(),
                  absl::StatusCodeToString(status.code()), std::string(status.message()));
    }
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }

  // The authenticated user of a new stream, counted against ServerOptions::max_streams; or
  // why the stream is refused, logged here.
  absl::StatusOr<std::string> AdmitStream(const char* method,
                                          const grpc::CallbackServerContext* context) {
    absl::StatusOr<std::string> user = Authenticate(*context);
    absl::Status refused = user.status();
    if (user.ok() && streams_.fetch_add(1) >= options_.max_streams) {
      streams_.fetch_sub(1);
      refused = absl::ResourceExhaustedError(
          absl::StrCat("the server is at its limit of ", options_.max_streams, " open streams"));
    }
    if (refused.ok()) {
      // One user may not hold every place: the others' feeds and audits must still open.
      absl::MutexLock lock(&streams_mu_);
      size_t& mine = streams_by_user_[*user];
      if (mine >= options_.max_streams_per_user) {
        streams_.fetch_sub(1);
        refused = absl::ResourceExhaustedError(absl::StrCat("user \"", *user, "\" has ", mine,
                                                            " streams open, the most one user may; "
                                                            "close one first"));
      } else {
        ++mine;
      }
    }
    if (refused.ok()) return user;
    spdlog::info("{} by {}: {} {}", method, user.ok() ? *user : "-",
                 absl::StatusCodeToString(refused.code()), std::string(refused.message()));
    return refused;
  }

  // Gives back a stream's places, the server's and its user's.
  void ReleaseStream(const std::string& user) {
    {
      absl::MutexLock lock(&streams_mu_);
      auto it = streams_by_user_.find(user);
      if (it != streams_by_user_.end() && --it->second == 0) streams_by_user_.erase(it);
    }
    streams_.fetch_sub(1);
  }

  struct RawCall {
    grpc::ByteBuffer* out = nullptr;
    std::unique_ptr<google::protobuf::Message> request;
    std::unique_ptr<google::protobuf::Message> response;
  };

  const ServerOptions options_;
  engine::Engine* const engine_;
  TokenStore* const tokens_;
  std::atomic<size_t> streams_{0};
  absl::Mutex streams_mu_;
  absl::flat_hash_map<std::string, size_t> streams_by_user_ ABSL_GUARDED_BY(streams_mu_);
  std::atomic<size_t> audit_runs_{0};  // Of streams_: the TaskWriters (audit runs) open.
  std::atomic<size_t> in_flight_{0};   // Unary calls started and not yet answered.
  absl::Mutex raw_mu_;
  absl::flat_hash_map<const grpc::CallbackServerContext*, std::unique_ptr<RawCall>> raw_calls_
      ABSL_GUARDED_BY(raw_mu_);
  Executor executor_;
  Feeds feeds_;  // After executor_: its thread wakes feeds onto the executor.
};

// The typed entry of a raw method (Calls::Register): `method` of `service`, handed the
// parsed request and the typed response.
template <typename Service, typename Request, typename Response>
Calls::Typed Bind(Service* service,
                  grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*,
                                                               const Request*, Response*)) {
  return [service, method](grpc::CallbackServerContext* context,
                           const google::protobuf::Message* request,
                           google::protobuf::Message* response) {
    return (service->*method)(context, static_cast<const Request*>(request),
                              static_cast<Response*>(response));
  };
}

// The typed entry of a raw server stream (Calls::Register).
template <typename Service, typename Request>
Calls::TypedStream BindStream(Service* service,
                              grpc::ServerWriteReactor<grpc::ByteBuffer>* (Service::*method)(
                                  grpc::CallbackServerContext*, const Request*)) {
  return [service, method](grpc::CallbackServerContext* context,
                           const google::protobuf::Message* request) {
    return (service->*method)(context, static_cast<const Request*>(request));
  };
}

#define SPOTFLOW_MUTATION(Name)                                                                 \
  grpc::ServerUnaryReactor* Name(grpc::CallbackServerContext* context,                          \
                                 const v1::Name##Request* request, v1::CommandResult* response) \
      override {                                                                                \
    return calls_->Mutate(#Name, context, request, response);                                   \
  }

absl::Time ToTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

engine::AsOf ToAsOf(const v1::AsOf& as_of) {
  engine::AsOf result;
  if (as_of.has_time()) {
    result.time = ToTime(as_of.time());
  } else {
    result.position = as_of.position();
  }
  return result;
}

class OrdersService final : public v1::Orders::CallbackService {
 public:
  explicit OrdersService(Calls* calls) : calls_(calls) {
    calls_->Register("spotflow.v1.Orders",
                     {
                         {"GetOrder", Bind(this, &OrdersService::GetOrder)},
                         {"ListOrders", Bind(this, &OrdersService::ListOrders)},
                         {"GetOrderStats", Bind(this, &OrdersService::GetOrderStats)},
                         {"CreateOrder", Bind(this, &OrdersService::CreateOrder)},
                         {"UpdateOrder", Bind(this, &OrdersService::UpdateOrder)},
                         {"SubmitRevision", Bind(this, &OrdersService::SubmitRevision)},
                         {"ApproveRevision", Bind(this, &OrdersService::ApproveRevision)},
                         {"RequestChanges", Bind(this, &OrdersService::RequestChanges)},
                         {"ForwardToClient", Bind(this, &OrdersService::ForwardToClient)},
                         {"RecordClientAnswer", Bind(this, &OrdersService::RecordClientAnswer)},
                         {"PerformAction", Bind(this, &OrdersService::PerformAction)},
                         {"RequestFlightChange", Bind(this, &OrdersService::RequestFlightChange)},
                         {"DecideFlightChange", Bind(this, &OrdersService::DecideFlightChange)},
                         {"WithdrawFlightChange", Bind(this, &OrdersService::WithdrawFlightChange)},
                         {"ShareOrder", Bind(this, &OrdersService::ShareOrder)},
                         {"UnshareOrder", Bind(this, &OrdersService::UnshareOrder)},
                         {"AssignProducer", Bind(this, &OrdersService::AssignProducer)},
                         {"AddComment", Bind(this, &OrdersService::AddComment)},
                         {"ArchiveOrder", Bind(this, &OrdersService::ArchiveOrder)},
                         {"RestoreOrder", Bind(this, &OrdersService::RestoreOrder)},
                         {"DeleteOrder", Bind(this, &OrdersService::DeleteOrder)},
                         {"ReuseOrder", Bind(this, &OrdersService::ReuseOrder)},
                         {"ReassignOrders", Bind(this, &OrdersService::ReassignOrders)},
                         {"ListBudgets", Bind(this, &OrdersService::ListBudgets)},
                         {"SetBudget", Bind(this, &OrdersService::SetBudget)},
                         {"RemoveBudget", Bind(this, &OrdersService::RemoveBudget)},
                     },
                     {{"WatchOrder", BindStream(this, &OrdersService::WatchOrderStream)}},
                     [this](int index, grpc::internal::MethodHandler* handler) {
                       MarkMethodRawCallback(index, handler);
                     });
  }

  grpc::ServerUnaryReactor* GetOrder(grpc::CallbackServerContext* context,
                                     const v1::GetOrderRequest* request,
                                     v1::OrderView* response) override {
    return calls_->Call(
        "GetOrder", context, request, response,
        [this](const Principal& p, const v1::GetOrderRequest& r,
               v1::OrderView* out) -> absl::Status {
          if (r.has_as_of() && r.with_awaiting()) {
            return absl::InvalidArgumentError(
                "with_awaiting tells whom the order waits for now; leave it out "
                "with as_of");
          }
          if (r.has_as_of()) {
            ASSIGN_OR_RETURN(*out,
                             calls_->engine()->GetOrderAsOf(p, r.order_id(), ToAsOf(r.as_of())));
          } else {
            engine::GetOrderOptions options;
            options.awaiting = r.with_awaiting();
            ASSIGN_OR_RETURN(*out, calls_->engine()->GetOrder(p, r.order_id(), options));
          }
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* ListBudgets(grpc::CallbackServerContext* context,
                                        const v1::ListBudgetsRequest* request,
                                        v1::ListBudgetsResponse* response) override {
    return calls_->Call("ListBudgets", context, request, response,
                        [this](const Principal& p, const v1::ListBudgetsRequest& r,
                               v1::ListBudgetsResponse* out) -> absl::Status {
                          engine::ListBudgetsRequest request;
                          request.user_id = r.user_id();
                          request.page_size = r.page_size();
                          request.page_token = r.page_token();
                          ASSIGN_OR_RETURN(engine::ListBudgetsResponse budgets,
                                           calls_->engine()->ListBudgets(p, request));
                          for (v1::BudgetProgress& b : budgets.budgets) {
                            *out->add_budgets() = std::move(b);
                          }
                          out->set_next_page_token(std::move(budgets.next_page_token));
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* GetOrderStats(grpc::CallbackServerContext* context,
                                          const v1::GetOrderStatsRequest* request,
                                          v1::OrderStats* response) override {
    return calls_->Call("GetOrderStats", context, request, response,
                        [this](const Principal& p, const v1::GetOrderStatsRequest& r,
                               v1::OrderStats* out) -> absl::Status {
                          engine::OrderStatsFilter filter;
                          filter.owner_id = r.owner_id();
                          filter.client_id = r.client_id();
                          filter.item_type = r.item_type();
                          filter.assignee_id = r.assignee_id();
                          filter.field = r.field();
                          filter.group_by = r.group_by();
                          filter.by_assignee = r.by_assignee();
                          if (r.has_created_since())
                            filter.created_since = ToTime(r.created_since());
                          if (r.has_created_before()) {
                            filter.created_before = ToTime(r.created_before());
                          }
                          if (r.has_finished_since()) {
                            filter.finished_since = ToTime(r.finished_since());
                          }
                          if (r.has_finished_before()) {
                            filter.finished_before = ToTime(r.finished_before());
                          }
                          ASSIGN_OR_RETURN(*out, calls_->engine()->GetOrderStats(p, filter));
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* ListOrders(grpc::CallbackServerContext* context,
                                       const v1::ListOrdersRequest* request,
                                       v1::ListOrdersResponse* response) override {
    return calls_->Call(
        "ListOrders", context, request, response,
        [this](const Principal& p, const v1::ListOrdersRequest& r,
               v1::ListOrdersResponse* out) -> absl::Status {
          engine::ListOrdersRequest query;
          if (!r.status().empty()) query.statuses.push_back(r.status());
          query.statuses.insert(query.statuses.end(), r.statuses().begin(), r.statuses().end());
          query.client_id = r.client_id();
          query.owner_id = r.owner_id();
          query.account_owner_id = r.account_owner_id();
          query.item_type = r.item_type();
          query.parent_order_id = r.parent_order_id();
          query.assignee_id = r.assignee_id();
          query.awaiting = r.with_awaiting();
          if (r.has_flight_from()) query.flight_from = r.flight_from();
          if (r.has_flight_to()) query.flight_to = r.flight_to();
          switch (r.archived()) {
            case v1::ARCHIVED_FILTER_UNSPECIFIED:
            case v1::EXCLUDE_ARCHIVED:
              query.archived = engine::ArchivedFilter::kExclude;
              break;
            case v1::INCLUDE_ARCHIVED:
              query.archived = engine::ArchivedFilter::kInclude;
              break;
            case v1::ONLY_ARCHIVED:
              query.archived = engine::ArchivedFilter::kOnly;
              break;
            default:
              return absl::InvalidArgumentError(
                  absl::StrCat("unknown archived filter ", static_cast<int>(r.archived())));
          }
          query.actionable = r.actionable();
          query.page_size = r.page_size();
          query.page_token = r.page_token();
          ASSIGN_OR_RETURN(engine::ListOrdersResponse list, calls_->engine()->ListOrders(p, query));
          for (v1::OrderView& order : list.orders) *out->add_orders() = std::move(order);
          out->set_next_page_token(list.next_page_token);
          return absl::OkStatus();
        });
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchOrderStream(
      grpc::CallbackServerContext* context, const v1::WatchOrderRequest* request) {
    const std::string order_id = request->order_id();
    engine::Engine* engine = calls_->engine();
    return calls_->Live<v1::OrderView>(
        "WatchOrder", context, order_id,
        [engine, name = order_id](const Principal& principal, std::string* watched)
            -> absl::StatusOr<LiveWriter<v1::OrderView>::Read> {
          // Asked for by its key or its id: the feed wakes for changes to its id.
          ASSIGN_OR_RETURN(const v1::OrderView first, engine->GetOrder(principal, name));
          const std::string order_id = first.order_id();
          *watched = order_id;
          struct Sent {
            uint64_t version = 0;
            // For a client contact's login: the SHA-256 of what it was last sent, less its
            // version and update time and position (a digest, not a copy of up to 1 MiB).
            std::string shown;
          };
          auto sent = std::make_shared<Sent>();
          return [engine, order_id, principal,
                  sent]() -> absl::StatusOr<std::optional<v1::OrderView>> {
            // Visibility is checked on every read: a deleted or no longer visible order ends
            // the stream with NOT_FOUND.
            ASSIGN_OR_RETURN(v1::OrderView order, engine->GetOrder(principal, order_id));
            if (order.version() <= sent->version) return std::optional<v1::OrderView>();
            sent->version = order.version();
            // A feed is sent again only when the order changes, and what is open to the caller
            // also changes without that (a share expires, a role changes): GetOrder tells it.
            order.clear_open_actions();
            order.clear_open_flight_actions();
            order.clear_open_actions_needing_comment();
            order.clear_open_actions_needing_fields();
            order.clear_parent();
            order.clear_children();
            order.clear_missing_fields();
            order.clear_fields_out_of_bounds();
            order.clear_forward_contacts();
            order.clear_client_contacts();
            if (!order.shown_to_contact().empty()) {
              // A client contact's login is sent a change only when what it is shown changes:
              // the house's own work that leaves that as it was (a comment, a share, a
              // producer assigned) moves only the order's version and update time, and a push
              // for it would tell the client when the house works on their order. The version
              // it was last sent may so be behind: its answers take no etag (RecordClientAnswer
              // names the revision it answers).
              v1::OrderView shown = order;
              shown.clear_version();
              shown.clear_updated_time();
              shown.clear_updated_position();
              std::string digest = ShownDigest(shown);
              if (digest == sent->shown) return std::optional<v1::OrderView>();
              sent->shown = std::move(digest);
            }
            return std::optional<v1::OrderView>(std::move(order));
          };
        });
  }

  SPOTFLOW_MUTATION(CreateOrder)
  SPOTFLOW_MUTATION(UpdateOrder)
  SPOTFLOW_MUTATION(SubmitRevision)
  SPOTFLOW_MUTATION(ApproveRevision)
  SPOTFLOW_MUTATION(RequestChanges)
  SPOTFLOW_MUTATION(ForwardToClient)
  SPOTFLOW_MUTATION(RecordClientAnswer)
  SPOTFLOW_MUTATION(PerformAction)
  SPOTFLOW_MUTATION(RequestFlightChange)
  SPOTFLOW_MUTATION(DecideFlightChange)
  SPOTFLOW_MUTATION(WithdrawFlightChange)
  SPOTFLOW_MUTATION(ShareOrder)
  SPOTFLOW_MUTATION(UnshareOrder)
  SPOTFLOW_MUTATION(AssignProducer)
  SPOTFLOW_MUTATION(AddComment)
  SPOTFLOW_MUTATION(ArchiveOrder)
  SPOTFLOW_MUTATION(RestoreOrder)
  SPOTFLOW_MUTATION(DeleteOrder)
  SPOTFLOW_MUTATION(ReuseOrder)
  SPOTFLOW_MUTATION(ReassignOrders)
  SPOTFLOW_MUTATION(SetBudget)
  SPOTFLOW_MUTATION(RemoveBudget)

 private:
  Calls* const calls_;
};

class ClientsService final : public v1::Clients::CallbackService {
 public:
  explicit ClientsService(Calls* calls) : calls_(calls) {
    calls_->Register("spotflow.v1.Clients",
                     {
                         {"GetClient", Bind(this, &ClientsService::GetClient)},
                         {"ListClients", Bind(this, &ClientsService::ListClients)},
                         {"CreateClient", Bind(this, &ClientsService::CreateClient)},
                         {"UpdateClient", Bind(this, &ClientsService::UpdateClient)},
                         {"AddContact", Bind(this, &ClientsService::AddContact)},
                         {"UpdateContact", Bind(this, &ClientsService::UpdateContact)},
                         {"RemoveContact", Bind(this, &ClientsService::RemoveContact)},
                         {"ShareClient", Bind(this, &ClientsService::ShareClient)},
                         {"UnshareClient", Bind(this, &ClientsService::UnshareClient)},
                         {"DeleteClient", Bind(this, &ClientsService::DeleteClient)},
                         {"ReassignAccounts", Bind(this, &ClientsService::ReassignAccounts)},
                     },
                     {}, [this](int index, grpc::internal::MethodHandler* handler) {
                       MarkMethodRawCallback(index, handler);
                     });
  }

  grpc::ServerUnaryReactor* GetClient(grpc::CallbackServerContext* context,
                                      const v1::GetClientRequest* request,
                                      v1::ClientView* response) override {
    return calls_->Call("GetClient", context, request, response,
                        [this](const Principal& p, const v1::GetClientRequest& r,
                               v1::ClientView* out) -> absl::Status {
                          if (r.has_as_of()) {
                            ASSIGN_OR_RETURN(*out, calls_->engine()->GetClientAsOf(
                                                       p, r.client_id(), ToAsOf(r.as_of())));
                          } else {
                            ASSIGN_OR_RETURN(*out, calls_->engine()->GetClient(p, r.client_id()));
                          }
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* ListClients(grpc::CallbackServerContext* context,
                                        const v1::ListClientsRequest* request,
                                        v1::ListClientsResponse* response) override {
    return calls_->Call("ListClients", context, request, response,
                        [this](const Principal& p, const v1::ListClientsRequest& r,
                               v1::ListClientsResponse* out) -> absl::Status {
                          engine::ListClientsRequest query;
                          query.owner_id = r.owner_id();
                          query.kind = r.client_kind();
                          query.page_size = r.page_size();
                          query.page_token = r.page_token();
                          ASSIGN_OR_RETURN(engine::ListClientsResponse list,
                                           calls_->engine()->ListClients(p, query));
                          for (auto& client : list.clients) *out->add_clients() = std::move(client);
                          out->set_next_page_token(list.next_page_token);
                          return absl::OkStatus();
                        });
  }

  SPOTFLOW_MUTATION(CreateClient)
  SPOTFLOW_MUTATION(UpdateClient)
  SPOTFLOW_MUTATION(AddContact)
  SPOTFLOW_MUTATION(UpdateContact)
  SPOTFLOW_MUTATION(RemoveContact)
  SPOTFLOW_MUTATION(ShareClient)
  SPOTFLOW_MUTATION(UnshareClient)
  SPOTFLOW_MUTATION(DeleteClient)
  SPOTFLOW_MUTATION(ReassignAccounts)

 private:
  Calls* const calls_;
};

class AdminService final : public v1::Admin::CallbackService {
 public:
  explicit AdminService(Calls* calls) : calls_(calls) {
    calls_->Register("spotflow.v1.Admin",
                     {
                         {"GetUser", Bind(this, &AdminService::GetUser)},
                         {"ListUsers", Bind(this, &AdminService::ListUsers)},
                         {"ListRoles", Bind(this, &AdminService::ListRoles)},
                         {"GetItemType", Bind(this, &AdminService::GetItemType)},
                         {"ListItemTypes", Bind(this, &AdminService::ListItemTypes)},
                         {"ListWorkflows", Bind(this, &AdminService::ListWorkflows)},
                         {"GetWorkflow", Bind(this, &AdminService::GetWorkflow)},
                         {"IssueToken", Bind(this, &AdminService::IssueToken)},
                         {"RevokeToken", Bind(this, &AdminService::RevokeToken)},
                         {"CreateUser", Bind(this, &AdminService::CreateUser)},
                         {"UpdateUser", Bind(this, &AdminService::UpdateUser)},
                         {"SetUserRoles", Bind(this, &AdminService::SetUserRoles)},
                         {"SetUserManager", Bind(this, &AdminService::SetUserManager)},
                         {"DeactivateUser", Bind(this, &AdminService::DeactivateUser)},
                         {"ReactivateUser", Bind(this, &AdminService::ReactivateUser)},
                         {"DefineRole", Bind(this, &AdminService::DefineRole)},
                         {"DefineItemType", Bind(this, &AdminService::DefineItemType)},
                         {"PublishWorkflow", Bind(this, &AdminService::PublishWorkflow)},
                     },
                     {}, [this](int index, grpc::internal::MethodHandler* handler) {
                       MarkMethodRawCallback(index, handler);
                     });
  }

  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const v1::GetUserRequest* request,
                                    v1::UserView* response) override {
    return calls_->Call(
        "GetUser", context, request, response,
        [this](const Principal& p, const v1::GetUserRequest& r, v1::UserView* out) -> absl::Status {
          ASSIGN_OR_RETURN(*out, calls_->engine()->GetUser(p, r.user_id()));
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* ListUsers(grpc::CallbackServerContext* context,
                                      const v1::ListUsersRequest* request,
                                      v1::ListUsersResponse* response) override {
    return calls_->Call("ListUsers", context, request, response,
                        [this](const Principal& p, const v1::ListUsersRequest& r,
                               v1::ListUsersResponse* out) -> absl::Status {
                          engine::ListUsersRequest query;
                          query.page_size = r.page_size();
                          query.page_token = r.page_token();
                          ASSIGN_OR_RETURN(engine::ListUsersResponse list,
                                           calls_->engine()->ListUsers(p, query));
                          for (auto& user : list.users) *out->add_users() = std::move(user);
                          out->set_next_page_token(list.next_page_token);
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* ListRoles(grpc::CallbackServerContext* context,
                                      const v1::ListRolesRequest* request,
                                      v1::ListRolesResponse* response) override {
    return calls_->Call("ListRoles", context, request, response,
                        [this](const Principal& p, const v1::ListRolesRequest& r,
                               v1::ListRolesResponse* out) -> absl::Status {
                          engine::ListRolesRequest query;
                          query.page_size = r.page_size();
                          query.page_token = r.page_token();
                          ASSIGN_OR_RETURN(engine::ListRolesResponse list,
                                           calls_->engine()->ListRoles(p, query));
                          for (auto& role : list.roles) *out->add_roles() = std::move(role);
                          out->set_next_page_token(list.next_page_token);
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* ListItemTypes(grpc::CallbackServerContext* context,
                                          const v1::ListItemTypesRequest* request,
                                          v1::ListItemTypesResponse* response) override {
    return calls_->Call("ListItemTypes", context, request, response,
                        [this](const Principal& p, const v1::ListItemTypesRequest& r,
                               v1::ListItemTypesResponse* out) -> absl::Status {
                          engine::PageRequest query;
                          query.page_size = r.page_size();
                          query.page_token = r.page_token();
                          ASSIGN_OR_RETURN(engine::ListItemTypesResponse list,
                                           calls_->engine()->ListItemTypes(p, query));
                          for (auto& type : list.item_types) {
                            *out->add_item_types() = std::move(type);
                          }
                          out->set_next_page_token(list.next_page_token);
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* ListWorkflows(grpc::CallbackServerContext* context,
                                          const v1::ListWorkflowsRequest* request,
                                          v1::ListWorkflowsResponse* response) override {
    return calls_->Call("ListWorkflows", context, request, response,
                        [this](const Principal& p, const v1::ListWorkflowsRequest& r,
                               v1::ListWorkflowsResponse* out) -> absl::Status {
                          engine::PageRequest query;
                          query.page_size = r.page_size();
                          query.page_token = r.page_token();
                          ASSIGN_OR_RETURN(engine::ListWorkflowsResponse list,
                                           calls_->engine()->ListWorkflows(p, query));
                          for (auto& workflow : list.workflows) {
                            *out->add_workflows() = std::move(workflow);
                          }
                          out->set_next_page_token(list.next_page_token);
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* GetItemType(grpc::CallbackServerContext* context,
                                        const v1::GetItemTypeRequest* request,
                                        v1::ItemTypeDefinition* response) override {
    return calls_->Call("GetItemType", context, request, response,
                        [this](const Principal& p, const v1::GetItemTypeRequest& r,
                               v1::ItemTypeDefinition* out) -> absl::Status {
                          ASSIGN_OR_RETURN(*out, calls_->engine()->GetItemType(p, r.name()));
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* GetWorkflow(grpc::CallbackServerContext* context,
                                        const v1::GetWorkflowRequest* request,
                                        v1::WorkflowDefinition* response) override {
    return calls_->Call("GetWorkflow", context, request, response,
                        [this](const Principal& p, const v1::GetWorkflowRequest& r,
                               v1::WorkflowDefinition* out) -> absl::Status {
                          ASSIGN_OR_RETURN(*out,
                                           calls_->engine()->GetWorkflow(p, r.name(), r.version()));
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* IssueToken(grpc::CallbackServerContext* context,
                                       const v1::IssueTokenRequest* request,
                                       v1::IssueTokenResponse* response) override {
    return calls_->Call("IssueToken", context, request, response,
                        [this](const Principal& p, const v1::IssueTokenRequest& r,
                               v1::IssueTokenResponse* out) -> absl::Status {
                          ASSIGN_OR_RETURN(std::string token, calls_->IssueToken(p, r.user_id()));
                          out->set_user_id(r.user_id());
                          out->set_token_hash_prefix(TokenStore::HashPrefix(token));
                          out->set_token(std::move(token));
                          return absl::OkStatus();
                        });
  }

  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* context,
                                        const v1::RevokeTokenRequest* request,
                                        v1::RevokeTokenResponse* response) override {
    return calls_->Call("RevokeToken", context, request, response,
                        [this, context](const Principal& p, const v1::RevokeTokenRequest& r,
                                        v1::RevokeTokenResponse* out) -> absl::Status {
                          ASSIGN_OR_RETURN(
                              std::string prefix,
                              calls_->RevokeToken(p, *context, r.user_id(), r.token_hash_prefix()));
                          out->set_user_id(r.user_id());
                          out->set_token_hash_prefix(std::move(prefix));
                          return absl::OkStatus();
                        });
  }

  SPOTFLOW_MUTATION(CreateUser)
  SPOTFLOW_MUTATION(UpdateUser)
  SPOTFLOW_MUTATION(SetUserRoles)
  SPOTFLOW_MUTATION(SetUserManager)
  SPOTFLOW_MUTATION(DeactivateUser)
  SPOTFLOW_MUTATION(ReactivateUser)
  SPOTFLOW_MUTATION(DefineRole)
  SPOTFLOW_MUTATION(DefineItemType)
  SPOTFLOW_MUTATION(PublishWorkflow)

 private:
  Calls* const calls_;
};

class EventsService final : public v1::Events::CallbackService {
 public:
  explicit EventsService(Calls* calls) : calls_(calls) {
    calls_->Register("spotflow.v1.Events",
                     {
                         {"ListEvents", Bind(this, &EventsService::ListEvents)},
                         {"VerifyLog", Bind(this, &EventsService::VerifyLog)},
                         {"Ping", Bind(this, &EventsService::Ping)},
                     },
                     {{"SubscribeEvents", BindStream(this, &EventsService::SubscribeEventsStream)}},
                     [this](int index, grpc::internal::MethodHandler* handler) {
                       MarkMethodRawCallback(index, handler);
                     });
  }

  grpc::ServerUnaryReactor* ListEvents(grpc::CallbackServerContext* context,
                                       const v1::ListEventsRequest* request,
                                       v1::ListEventsResponse* response) override {
    return calls_->Call(
        "ListEvents", context, request, response,
        [this](const Principal& p, const v1::ListEventsRequest& r,
               v1::ListEventsResponse* out) -> absl::Status {
          const uint64_t from = std::max<uint64_t>(r.from_position(), 1);
          const size_t size = r.page_size() == 0 ? 100 : r.page_size();
          // The store's head, read first: the page holds no record past it, so one that ends at
          // it ends whole, and one that ends before it has more to come (an append the page's
          // size cut; notify reads on before telling it). A commit since waits for the next.
          const uint64_t head = calls_->engine()->log_head();
          ASSIGN_OR_RETURN(auto events, calls_->engine()->ReadEvents(p, from, size));
          while (!events.empty() && events.back().position() > head) events.pop_back();
          // Pages stop near kMaxBatchBytes so that a client's default receive limit holds.
          size_t bytes = 0, keep = 0;
          while (keep < events.size() && (keep == 0 || bytes < kMaxBatchBytes)) {
            bytes += events[keep++].ByteSizeLong();
          }
          events.resize(keep);
          out->set_next_position(events.empty() ? from : events.back().position() + 1);
          out->set_head_position(head);
          for (auto& event : events) *out->add_events() = std::move(event);
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* VerifyLog(grpc::CallbackServerContext* context,
                                      const v1::VerifyLogRequest* request,
                                      v1::VerifyLogResponse* response) override {
    return calls_->Call(
        "VerifyLog", context, request, response,
        [this](const Principal& p, const v1::VerifyLogRequest& r,
               v1::VerifyLogResponse* out) -> absl::Status {
          ASSIGN_OR_RETURN(store::VerifyResult verified,
                           calls_->engine()->VerifyLog(p, std::max<uint64_t>(r.from_position(), 1),
                                                       r.to_position(), nullptr));
          out->set_first_position(verified.first_position);
          out->set_last_position(verified.last_position);
          out->set_records(verified.records);
          out->set_last_hash(verified.last_hash);
          return absl::OkStatus();
        });
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* SubscribeEventsStream(
      grpc::CallbackServerContext* context, const v1::SubscribeEventsRequest* request) {
    const uint64_t from = request->from_position();
    engine::Engine* engine = calls_->engine();
    return calls_->Live<v1::EventBatch>(
        "SubscribeEvents", context, /*order_id=*/"",
        [engine, from](const Principal& principal, std::string* /*watched: every change*/)
            -> absl::StatusOr<LiveWriter<v1::EventBatch>::Read> {
          ASSIGN_OR_RETURN(std::unique_ptr<store::Subscription> owned,
                           engine->SubscribeEvents(principal, from));
          std::shared_ptr<store::Subscription> subscription = std::move(owned);
          return
              [engine, principal, subscription]() -> absl::StatusOr<std::optional<v1::EventBatch>> {
                // Access is checked again for every batch: a deactivated user or a changed role
                // ends the stream.
                RETURN_IF_ERROR(engine->Authorize(principal, v1::EVENTS_READ));
                // Up to 100 records a message: a stream carries about as many messages a second
                // whatever their size (DESIGN.md §6).
                ASSIGN_OR_RETURN(std::vector<store::EventRecord> records,
                                 subscription->Next(kBatchRecords, absl::ZeroDuration()));
                if (records.empty()) return std::optional<v1::EventBatch>();
                v1::EventBatch batch;
                for (store::EventRecord& record : records) *batch.add_events() = std::move(record);
                batch.set_head_position(subscription->known_head());
                return std::optional<v1::EventBatch>(std::move(batch));
              };
        });
  }

  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context, const v1::PingRequest*,
                                 v1::PingResponse*) override {
    return calls_->Ping(context);
  }

 private:
  Calls* const calls_;
};

// An engine Progress that writes the run's progress to the stream, at most every 250 ms,
// and stops the run once the client has gone.
template <typename Message>
engine::Progress StreamProgress(StreamSink<Message>* sink) {
  auto last = std::make_shared<absl::Time>(absl::InfinitePast());
  return [sink, last](uint64_t done, uint64_t total) {
    if (sink->cancelled()) return false;
    const absl::Time now = absl::Now();
    if (now - *last < absl::Milliseconds(250)) return true;
    *last = now;
    Message message;
    message.mutable_progress()->set_done(done);
    message.mutable_progress()->set_total(total);
    return sink->Write(message);
  };
}

class AuditService final : public v1::Audit::CallbackService {
 public:
  explicit AuditService(Calls* calls) : calls_(calls) {
    calls_->Register(
        "spotflow.v1.Audit",
        {
            {"Replay", Bind(this, &AuditService::Replay)},
            {"History", Bind(this, &AuditService::History)},
        },
        {
            {"Verify", BindStream(this, &AuditService::VerifyStream)},
            {"Export", BindStream(this, &AuditService::ExportStream)},
            {"CheckDeterminism", BindStream(this, &AuditService::CheckDeterminismStream)},
        },
        [this](int index, grpc::internal::MethodHandler* handler) {
          MarkMethodRawCallback(index, handler);
        });
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* VerifyStream(grpc::CallbackServerContext* context,
                                                           const v1::AuditVerifyRequest* request) {
    engine::Engine* engine = calls_->engine();
    return calls_->Stream<v1::AuditVerifyResponse>(
        "Verify", context,
        [engine, r = *request](const Principal& principal)
            -> absl::StatusOr<TaskWriter<v1::AuditVerifyResponse>::Task> {
          RETURN_IF_ERROR(engine->Authorize(principal, v1::EVENTS_READ));
          return [engine, r, principal](StreamSink<v1::AuditVerifyResponse>& sink) -> absl::Status {
            const engine::Progress progress = StreamProgress(&sink);
            ASSIGN_OR_RETURN(store::VerifyResult verified,
                             r.has_digest() ? engine->CheckDigest(principal, r.digest(), progress)
                                            : engine->VerifyLog(principal, r.from_position(),
                                                                r.to_position(), progress));
            v1::AuditVerifyResponse result;
            result.mutable_progress()->set_done(verified.records);
            result.mutable_progress()->set_total(verified.records);
            result.set_done(true);
            result.set_records(verified.records);
            result.set_first_position(verified.first_position);
            result.set_last_position(verified.last_position);
            *result.mutable_digest() = engine::DigestAt(verified.last_position, verified.last_hash);
            sink.Write(result);
            return absl::OkStatus();
          };
        });
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* ExportStream(grpc::CallbackServerContext* context,
                                                           const v1::AuditExportRequest* request) {
    engine::Engine* engine = calls_->engine();
    return calls_->Stream<v1::AuditExportResponse>(
        "Export", context,
        [engine, r = *request](const Principal& principal)
            -> absl::StatusOr<TaskWriter<v1::AuditExportResponse>::Task> {
          RETURN_IF_ERROR(engine->Authorize(principal, v1::EVENTS_READ));
          engine::ExportFilter filter;
          filter.from_position = std::max<uint64_t>(r.from_position(), 1);
          filter.to_position = r.to_position();
          filter.stream_id = r.stream_id();
          filter.order_id = r.order_id();
          filter.client_id = r.client_id();
          filter.actor_id = r.user_id();
          if (r.has_since()) filter.since = ToTime(r.since());
          if (r.has_until()) filter.until = ToTime(r.until());
          return [engine, filter,
                  principal](StreamSink<v1::AuditExportResponse>& sink) mutable -> absl::Status {
            const uint64_t first = filter.from_position;
            while (true) {
              ASSIGN_OR_RETURN(engine::ExportPage page,
                               engine->ExportEvents(principal, filter, kMaxBatchBytes));
              v1::AuditExportResponse response;
              for (std::string& line : page.lines) response.add_lines(std::move(line));
              response.mutable_progress()->set_done(page.next_position - first);
              response.mutable_progress()->set_total(
                  page.last_position >= first ? page.last_position - first + 1 : 0);
              response.set_done(page.done);
              if (!sink.Write(response)) {
                return absl::CancelledError("the client cancelled the export");
              }
              if (page.done) return absl::OkStatus();
              // The export ends where the log ended when it began.
              filter.from_position = page.next_position;
              filter.to_position = page.last_position;
            }
          };
        });
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* CheckDeterminismStream(
      grpc::CallbackServerContext* context, const v1::CheckDeterminismRequest*) {
    engine::Engine* engine = calls_->engine();
    return calls_->Stream<v1::CheckDeterminismResponse>(
        "CheckDeterminism", context,
        [engine](const Principal& principal)
            -> absl::StatusOr<TaskWriter<v1::CheckDeterminismResponse>::Task> {
          RETURN_IF_ERROR(engine->Authorize(principal, v1::EVENTS_READ));
          return
              [engine, principal](StreamSink<v1::CheckDeterminismResponse>& sink) -> absl::Status {
                ASSIGN_OR_RETURN(engine::Engine::ReplayCheck check,
                                 engine->CheckReplay(principal, StreamProgress(&sink)));
                v1::CheckDeterminismResponse result;
                result.mutable_progress()->set_done(check.position);
                result.mutable_progress()->set_total(check.position);
                result.set_done(true);
                result.set_position(check.position);
                result.set_live_digest(check.live_digest);
                result.set_rebuilt_digest(check.rebuilt_digest);
                sink.Write(result);
                return absl::OkStatus();
              };
        });
  }

  grpc::ServerUnaryReactor* Replay(grpc::CallbackServerContext* context,
                                   const v1::AuditReplayRequest* request,
                                   v1::AuditReplayResponse* response) override {
    return calls_->Call(
        "Replay", context, request, response,
        [this](const Principal& p, const v1::AuditReplayRequest& r,
               v1::AuditReplayResponse* out) -> absl::Status {
          RETURN_IF_ERROR(calls_->engine()->Authorize(p, v1::EVENTS_READ));
          if (!r.has_as_of() || r.as_of().moment_case() == v1::AsOf::MOMENT_NOT_SET) {
            return absl::InvalidArgumentError("as_of is required: a position or a time");
          }
          const engine::AsOf as_of = ToAsOf(r.as_of());
          switch (r.record_case()) {
            case v1::AuditReplayRequest::kOrderId: {
              RETURN_IF_ERROR(Named("order_id", r.order_id()));
              ASSIGN_OR_RETURN(*out->mutable_order(),
                               calls_->engine()->GetOrderAsOf(p, r.order_id(), as_of));
              return absl::OkStatus();
            }
            case v1::AuditReplayRequest::kClientId: {
              RETURN_IF_ERROR(Named("client_id", r.client_id()));
              ASSIGN_OR_RETURN(*out->mutable_client(),
                               calls_->engine()->GetClientAsOf(p, r.client_id(), as_of));
              return absl::OkStatus();
            }
            default:
              return absl::InvalidArgumentError("name the record: an order_id or a client_id");
          }
        });
  }

  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::AuditHistoryRequest* request,
                                    v1::AuditHistoryResponse* response) override {
    return calls_->Call(
        "History", context, request, response,
        [this](const Principal& p, const v1::AuditHistoryRequest& r,
               v1::AuditHistoryResponse* out) -> absl::Status {
          std::vector<v1::Change> changes;
          switch (r.record_case()) {
            case v1::AuditHistoryRequest::kOrderId: {
              RETURN_IF_ERROR(Named("order_id", r.order_id()));
              ASSIGN_OR_RETURN(changes, calls_->engine()->OrderHistory(p, r.order_id()));
              break;
            }
            case v1::AuditHistoryRequest::kClientId: {
              RETURN_IF_ERROR(Named("client_id", r.client_id()));
              ASSIGN_OR_RETURN(changes, calls_->engine()->ClientHistory(p, r.client_id()));
              break;
            }
            default:
              return absl::InvalidArgumentError("name the record: an order_id or a client_id");
          }
          for (v1::Change& change : changes) *out->add_changes() = std::move(change);
          return absl::OkStatus();
        });
  }

 private:
  static absl::Status Named(const char* field, const std::string& id) {
    if (!id.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(field, " is empty: name the record"));
  }

  Calls* const calls_;
};

#undef SPOTFLOW_MUTATION

absl::StatusOr<std::string> ReadFile(const std::string& what, const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " \"", path, "\": not a readable file"));
  }
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, engine::Engine* engine, TokenStore* tokens)
      : calls_(options, engine, tokens),
        orders_(&calls_),
        clients_(&calls_),
        admin_(&calls_),
        events_(&calls_),
        audit_(&calls_) {}

  // HOST:PORT with a port of 0 (any free one) to 65535: gRPC would take "host" alone as
  // port 443 and wrap a port past 65535 around, and serve somewhere nobody asked for.
  static absl::Status CheckListen(const std::string& listen) {
    const size_t colon = listen.rfind(':');
    const absl::string_view host =
        colon == std::string::npos ? "" : absl::string_view(listen).substr(0, colon);
    const absl::string_view port =
        colon == std::string::npos ? "" : absl::string_view(listen).substr(colon + 1);
    uint32_t number = 0;
    const bool bracketed_v6 = absl::StartsWith(host, "[") && absl::EndsWith(host, "]");
    if (host.empty() || (!bracketed_v6 && absl::StrContains(host, ':')) || port.empty() ||
        port.size() > 5 || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(port, &number) || number > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen is \"", absl::CHexEscape(listen),
          "\"; give HOST:PORT with a port from 0 (any free one) to 65535, e.g. 127.0.0.1:50051 "
          "or [::1]:50051"));
    }
    return absl::OkStatus();
  }

  absl::Status Init(const ServerOptions& options) {
    RETURN_IF_ERROR(CheckListen(options.listen));
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
      grpc::SslServerCredentialsOptions ssl;
      if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
        return absl::InvalidArgumentError("--tls-cert and --tls-key go together: give both");
      }
      ASSIGN_OR_RETURN(std::string cert, ReadFile("the TLS certificate", options.tls_cert_file));
      ASSIGN_OR_RETURN(std::string key, ReadFile("the TLS key", options.tls_key_file));
      RETURN_IF_ERROR(internal::CheckPemKeyPair(
          cert, key, absl::StrCat("the TLS certificate ", options.tls_cert_file),
          absl::StrCat("the TLS key ", options.tls_key_file)));
      ssl.pem_key_cert_pairs.push_back({key, cert});
      if (!options.tls_client_ca_file.empty()) {
        ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile("the client CA", options.tls_client_ca_file));
        RETURN_IF_ERROR(internal::CheckPemCertificate(
            ssl.pem_root_certs, absl::StrCat("the client CA ", options.tls_client_ca_file)));
        ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
      }
      credentials = grpc::SslServerCredentials(ssl);
    } else if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    // gRPC sets SO_REUSEPORT on its listening sockets by default, which lets a second server
    // bind the same port and take half of the first one's connections. One port, one server.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // A connection with no call for 10 minutes is closed (clients reconnect on their next
    // call): idle connections cannot pile up until the process runs out of descriptors.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 10 * 60 * 1000);
    builder.AddListeningPort(options.listen, credentials, &port_);
    // The transport refuses what is far too large; the services refuse, with
    // INVALID_ARGUMENT, what is over the limit (Calls::Call).
    builder.SetMaxReceiveMessageSize(
        static_cast<int>(std::min<int64_t>(int64_t{options.max_message_bytes} * 2, INT32_MAX)));
    builder.RegisterService(&orders_);
    builder.RegisterService(&audit_);
    builder.RegisterService(&clients_);
    builder.RegisterService(&admin_);
    builder.RegisterService(&events_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen,
                                                 " (in use, or not an address of this host?)"));
    }
    return absl::OkStatus();
  }

  // grpc::Server's own destructor waits without a deadline; an open stream would hang it.
  ~ServerImpl() override {
    if (!shut_down_ && server_ != nullptr) Shutdown(absl::Seconds(1));
  }

  int port() const override { return port_; }

  void Shutdown(absl::Duration grace) override {
    shut_down_ = true;
    calls_.StopFeeds();
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
    // A command still committing answers from the store's completion thread later; Calls
    // must outlive that answer (the engine and the store outlive the server).
    calls_.AwaitAnswered();
  }

  void Wait() override { server_->Wait(); }

 private:
  Calls calls_;
  OrdersService orders_;
  ClientsService clients_;
  AdminService admin_;
  EventsService events_;
  AuditService audit_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      engine::Engine* engine, TokenStore* tokens) {
  if (engine == nullptr || tokens == nullptr) {
    return absl::InvalidArgumentError("Server::Start needs an engine and a token store");
  }
  if (options.worker_threads < 1 || options.max_calls_in_flight < 1 ||
      options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(
        "worker_threads and max_calls_in_flight must be at least 1, max_message_bytes at "
        "least 1024");
  }
  auto server = std::make_unique<ServerImpl>(options, engine, tokens);
  RETURN_IF_ERROR(server->Init(options));
  return server;
}

}  // namespace spotflow::service
