// bench_grpc_floor: the cheapest possible gRPC server for the Gateway API — it answers every
// Chat and ChatStream at once, from memory, with an answer shaped like the fake upstream's (five
// content pieces, finish_reason "stop", usage). No authentication, no policy, no upstream.
//
// The gateway-overhead benchmark measures it as the `grpc-floor` path: what the same gRPC
// client pays for the gRPC transport alone on this machine (client and server, HTTP/2,
// protobuf, the callback API's threads), and so the part of airlockd's overhead that no work
// inside Airlock can remove.
//
//   bench_grpc_floor [--port-file PATH]
//
// Listens on 127.0.0.1, port 0 (the kernel picks one); writes the port to PATH (atomically)
// once listening. SIGINT/SIGTERM stop it.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "airlock/v1/gateway.grpc.pb.h"

namespace {

namespace v1 = airlock::v1;

constexpr const char* kPieces[] = {"Hello", " from", " the", " fake", " upstream."};

void FillUsage(v1::Usage* usage) {
  usage->set_prompt_tokens(12);
  usage->set_completion_tokens(5);
}

class StreamReactor final : public grpc::ServerWriteReactor<v1::ChatStreamResponse> {
 public:
  StreamReactor() {
    for (size_t i = 0; i < std::size(kPieces); ++i) {
      messages_[i].set_content_delta(kPieces[i]);
    }
    messages_[5].set_finish_reason("stop");
    FillUsage(messages_[5].mutable_usage());
    messages_[5].mutable_route()->set_target("floor");
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (next_ == std::size(messages_)) {
      Finish(grpc::Status::OK);
      return;
    }
    StartWrite(&messages_[next_++]);
  }

  v1::ChatStreamResponse messages_[6];
  size_t next_ = 0;
};

class FloorService final : public v1::Gateway::CallbackService {
  grpc::ServerUnaryReactor* Chat(grpc::CallbackServerContext* ctx, const v1::ChatRequest*,
                                 v1::ChatResponse* response) override {
    std::string content;
    for (const char* piece : kPieces) content += piece;
    response->set_content(std::move(content));
    response->set_finish_reason("stop");
    FillUsage(response->mutable_usage());
    response->mutable_route()->set_target("floor");
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<v1::ChatStreamResponse>* ChatStream(grpc::CallbackServerContext*,
                                                               const v1::ChatRequest*) override {
    return new StreamReactor();
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string port_file;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
      port_file = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--port-file PATH]\n", argv[0]);
      return 2;
    }
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before gRPC starts its threads

  FloorService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "bench_grpc_floor: could not listen on 127.0.0.1\n");
    return 1;
  }
  std::printf("port %d\n", port);
  std::fflush(stdout);
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  int signal = 0;
  sigwait(&stop, &signal);
  server->Shutdown();
  return 0;
}
