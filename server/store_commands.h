// The store's command-line tools: `sessionsink events` (the stored events
// as NDJSON, or their number) and `sessionsink backup` (a consistent copy
// of a live store). Both only read the store, beside a running sink.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "query/events_export.h"

namespace sink {

struct StoreCommands {
  CLI::App* events = nullptr;
  CLI::App* backup = nullptr;
  std::string db = "./data/sessions.db";
  EventsRequest request;
  std::string session, server, from, to;
  std::string out;
};

// Adds both subcommands to `app`; `c` receives their options.
void AddStoreCommands(CLI::App* app, StoreCommands* c);

// Runs the parsed one and returns its exit code (0 done, 2 bad usage, 1 a
// failure, with the reason on stderr); nullopt when neither was given.
std::optional<int> RunStoreCommands(StoreCommands& c);

}  // namespace sink
