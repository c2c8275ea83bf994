// `sessionsink serve` options: defaults, units, environment fallbacks, errors.
#include <cstdlib>

#include "ingest/config.h"
#include "ingest/http_server.h"
#include "tests/test_util.h"

namespace sink {
namespace {

// Parses `args` (after "serve") into a config; returns CLI11's error text.
std::string ParseServe(std::vector<std::string> args, ServeConfig* cfg) {
  CLI::App app;
  CLI::App* serve = app.add_subcommand("serve");
  AddServeOptions(serve, cfg);
  args.insert(args.begin(), "serve");
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigTest, Defaults) {
  ServeConfig cfg;
  EXPECT_EQ(ParseServe({}, &cfg), "");
  EXPECT_EQ(cfg.listen, "127.0.0.1:8080");
  EXPECT_EQ(cfg.max_body_bytes, 64ull << 20);
  EXPECT_EQ(cfg.session_timeout_ms, 600000);
  EXPECT_EQ(cfg.synchronous, "normal");
  EXPECT_TRUE(cfg.token.empty());
}

TEST(ConfigTest, UnitsAreParsed) {
  ServeConfig cfg;
  EXPECT_EQ(ParseServe({"--max-body-bytes", "1MiB", "--session-timeout", "90s", "--synchronous",
                        "FULL", "--request-timeout", "1500ms"},
                       &cfg),
            "");
  EXPECT_EQ(cfg.max_body_bytes, 1u << 20);
  EXPECT_EQ(cfg.session_timeout_ms, 90000);
  EXPECT_EQ(cfg.synchronous, "full");
  EXPECT_EQ(cfg.request_timeout_ms, 1500);
}

TEST(ConfigTest, EnvironmentFallback) {
  setenv("SESSIONSINK_SESSION_TIMEOUT", "2m", 1);
  setenv("SESSIONSINK_LISTEN", "0.0.0.0:9000", 1);
  ServeConfig cfg;
  EXPECT_EQ(ParseServe({}, &cfg), "");
  unsetenv("SESSIONSINK_SESSION_TIMEOUT");
  unsetenv("SESSIONSINK_LISTEN");
  EXPECT_EQ(cfg.session_timeout_ms, 120000);
  EXPECT_EQ(cfg.listen, "0.0.0.0:9000");
}

TEST(ConfigTest, FlagBeatsEnvironment) {
  setenv("SESSIONSINK_DB", "/env/path.db", 1);
  ServeConfig cfg;
  EXPECT_EQ(ParseServe({"--db", "/flag/path.db"}, &cfg), "");
  unsetenv("SESSIONSINK_DB");
  EXPECT_EQ(cfg.db_path, "/flag/path.db");
}

TEST(ConfigTest, BadValuesAreExplained) {
  ServeConfig cfg;
  EXPECT_NE(ParseServe({"--session-timeout", "soon"}, &cfg).find("duration"), std::string::npos);
  EXPECT_NE(ParseServe({"--listen", "8080"}, &cfg).find("HOST:PORT"), std::string::npos);
  EXPECT_NE(ParseServe({"--synchronous", "off"}, &cfg), "");
}

TEST(ConfigTest, ConnectionLimits) {
  ServeConfig cfg;
  EXPECT_EQ(ParseServe({}, &cfg), "");
  EXPECT_EQ(cfg.max_connections, 1024);
  EXPECT_EQ(cfg.max_connections_per_client, 16);
  EXPECT_EQ(cfg.client_timeout_ms, 30000);
  EXPECT_EQ(ParseServe({"--client-timeout", "1500ms", "--max-connections-per-client", "0",
                        "--max-connections", "12"},
                       &cfg),
            "");
  EXPECT_EQ(cfg.client_timeout_ms, 1500);
  EXPECT_EQ(cfg.max_connections_per_client, 0);  // no limit
  EXPECT_EQ(cfg.max_connections, 12);
  // A deadline too short to receive any request is a mistake, not "off".
  EXPECT_NE(ParseServe({"--client-timeout", "0"}, &cfg).find("at least 100ms"), std::string::npos)
      << ParseServe({"--client-timeout", "0"}, &cfg);
}

TEST(ConfigTest, HostPort) {
  std::string host;
  int port = -1;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:0", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(SplitHostPort("[::1]:8080", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 8080);
  EXPECT_FALSE(SplitHostPort("host:99999", &host, &port));
  EXPECT_FALSE(SplitHostPort("host", &host, &port));
}

TEST(ConfigTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("s3cret", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("s3cre", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret!", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("S3cret", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("", "s3cret"));
}

}  // namespace
}  // namespace sink
