// airlockd: the Airlock gateway.
//
//   airlockd --config airlockd.yaml [--port-file PATH] [--check]
//
// Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the policy (a policy that fails
// validation is refused and the old one keeps serving). Exit codes: 0 clean shutdown,
// 2 configuration error, 1 any other startup failure.
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "CLI/CLI.hpp"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/server.h"

using airlock::gateway::Log;
using airlock::gateway::LogLevel;

int main(int argc, char** argv) {
  CLI::App app{"airlockd: privacy-routing gateway for AI agents"};
  std::string config_path, port_file;
  bool check_only = false;
  app.add_option("--config,-c", config_path, "gateway configuration (YAML)")->required();
  app.add_option("--port-file", port_file,
                 "write the bound gRPC port here once listening (useful with port 0)");
  app.add_flag("--check", check_only, "validate the configuration and policy, then exit");
  CLI11_PARSE(app, argc, argv);

  // Signals are taken synchronously by the main thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto config = airlock::gateway::LoadConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "airlockd: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  LogLevel level = LogLevel::kInfo;
  airlock::gateway::ParseLogLevel(config->log_level, &level);
  airlock::gateway::SetLogLevel(level);

  auto server = airlock::gateway::Server::Create(*std::move(config));
  if (!server.ok()) {
    std::fprintf(stderr, "airlockd: %s\n", std::string(server.status().message()).c_str());
    return 2;
  }
  if (check_only) {
    std::printf("airlockd: %s is valid\n", config_path.c_str());
    return 0;
  }
  if (auto started = (*server)->Start(); !started.ok()) {
    std::fprintf(stderr, "airlockd: %s\n", std::string(started.message()).c_str());
    return 1;
  }
  Log(LogLevel::kInfo, "listening",
      {{"port", (*server)->port()}, {"metrics_port", (*server)->metrics_port()}});
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());  // readers never see a partial file
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      (void)(*server)->ReloadPolicy();
      continue;
    }
    Log(LogLevel::kInfo, "draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    (*server)->Shutdown();
    Log(LogLevel::kInfo, "stopped");
    return 0;
  }
}
