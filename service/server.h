// server.h: the Spotflow gRPC server. It authenticates callers, converts requests to engine
// commands and queries, and engine results and errors back; no business rule lives here.
//
//   spotflow::service::ServerOptions options;
//   options.listen = "127.0.0.1:0";
//   auto server = spotflow::service::Server::Start(options, engine.get(), &tokens);
//   int port = (*server)->port();
//   ...
//   (*server)->Shutdown(absl::Seconds(5));  // drains calls in flight
//
// Thread-safe. The engine and the token store are borrowed and must outlive the server.
#ifndef SPOTFLOW_SERVICE_SERVER_H_
#define SPOTFLOW_SERVICE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "service/auth.h"

namespace spotflow::service {

struct ServerOptions {
  // host:port to listen on; port 0 picks a free port (see Server::port). Default: local only.
  std::string listen = "127.0.0.1:50051";
  // Largest request message accepted, in bytes; larger is INVALID_ARGUMENT... as gRPC reports
  // it (RESOURCE_EXHAUSTED from the transport). Default: 4 MiB.
  int max_message_bytes = 4 << 20;
  // Threads that run the engine calls that may wait: queries, live feeds' steps, and commands
  // the engine cannot decide at once (a request id to look up, a scan of every order, its
  // state busy). Other commands decide in the reaction; every command answers from the
  // store's completion thread once durable, so no worker waits for a sync and a few suffice;
  // more only add context switches on a small machine (benchmarks/RESULTS.md). Default: 4.
  int worker_threads = 4;
  // Calls waiting or running at once; beyond it a call is RESOURCE_EXHAUSTED. Default: 1024.
  size_t max_calls_in_flight = 1024;
  // Server streams open at once; beyond it RESOURCE_EXHAUSTED. Live feeds (WatchOrder,
  // SubscribeEvents) hold no thread; an audit run holds one while it runs. Default: 256.
  size_t max_streams = 256;
  // Audit runs (Audit.Verify, Export, CheckDeterminism) at once, each reading the whole log
  // on a thread of its own; beyond it RESOURCE_EXHAUSTED, so that a few auditors cannot take
  // every core. Counted within max_streams. Default: 4.
  size_t max_audit_runs = 4;
  // Streams one user may hold open at once, so that one caller cannot take every place of
  // max_streams. Default: 64.
  size_t max_streams_per_user = 64;
  // Optional TLS: PEM files. With tls_client_ca set, clients must present a certificate it
  // signed. Default: plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // The token file Admin.IssueToken appends to. Empty: IssueToken is FAILED_PRECONDITION.
  std::string tokens_file;
};

class Server {
 public:
  // Starts serving. INVALID_ARGUMENT for bad options or unreadable TLS files; UNAVAILABLE when
  // the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       engine::Engine* engine, TokenStore* tokens);
  virtual ~Server() = default;

  // The port bound (the real one when ServerOptions::listen asked for port 0).
  virtual int port() const = 0;

  // Stops accepting calls, lets calls in flight finish for up to `grace`, cancels the rest.
  virtual void Shutdown(absl::Duration grace) = 0;

  // Blocks until Shutdown has completed.
  virtual void Wait() = 0;
};

}  // namespace spotflow::service

#endif  // SPOTFLOW_SERVICE_SERVER_H_
