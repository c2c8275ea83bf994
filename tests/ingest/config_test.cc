// `sessionsink serve` options: defaults, units, environment fallbacks, errors.
#include <cstdio>
#include <cstdlib>
#include <map>

#include "server/config.h"
#include "server/http_server.h"
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
  EXPECT_TRUE(cfg.tokens.empty());
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

namespace sink {
namespace {

// The --config file: CLI11 reads it; flags beat the environment, which beats
// the file, which beats the defaults.
class ConfigFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = tmp_.File(name);
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return path;
  }
  // Parses; returns the error text, or "" when the configuration was read.
  static std::string Parse(ServeCommandLine* cl, const std::vector<std::string>& args) {
    try {
      cl->Parse(args);
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  }
  void TearDown() override {
    for (const char* v : {"SESSIONSINK_SESSION_TIMEOUT", "SESSIONSINK_TOKEN", "SESSIONSINK_CONFIG",
                          "SESSIONSINK_DB", "SESSIONSINK_LOG_LEVEL"}) {
      unsetenv(v);
    }
  }
  test::TempDir tmp_;
};

TEST_F(ConfigFileTest, FlagBeatsEnvironmentBeatsFileBeatsDefault) {
  const std::string file = Write("s.conf",
                                 "# comment\n"
                                 "session-timeout = \"5m\"   # idle sessions\n"
                                 "db = \"/file/s.db\"\n"
                                 "log-level = \"debug\"\n"
                                 "max-body-bytes = \"1MiB\"\n");
  setenv("SESSIONSINK_SESSION_TIMEOUT", "2m", 1);  // beats the file
  setenv("SESSIONSINK_DB", "/env/s.db", 1);        // loses to the flag
  ServeCommandLine cl("sessionsink serve", "");
  ASSERT_EQ(Parse(&cl, {"--config", file, "--db", "/flag/s.db"}), "");
  EXPECT_EQ(cl.config().db_path, "/flag/s.db");
  EXPECT_EQ(cl.config().session_timeout_ms, 120000);
  EXPECT_EQ(cl.config().log_level, "debug");        // the file beats the default
  EXPECT_EQ(cl.config().max_body_bytes, 1u << 20);  // the file's units
  EXPECT_EQ(cl.config().listen, "127.0.0.1:8080");  // the default
  EXPECT_EQ(cl.config_file(), file);
  std::map<std::string, SettingSource> source;
  for (const Setting& s : cl.Settings()) source[s.name] = s.source;
  EXPECT_EQ(source["db"], SettingSource::kFlag);
  EXPECT_EQ(source["session-timeout"], SettingSource::kEnvironment);
  EXPECT_EQ(source["log-level"], SettingSource::kFile);
  EXPECT_EQ(source["listen"], SettingSource::kDefault);
}

TEST_F(ConfigFileTest, TheConfigFileCanComeFromTheEnvironment) {
  setenv("SESSIONSINK_CONFIG", Write("e.conf", "db = \"/e/s.db\"\n").c_str(), 1);
  ServeCommandLine cl("sessionsink serve", "");
  ASSERT_EQ(Parse(&cl, {}), "");
  EXPECT_EQ(cl.config().db_path, "/e/s.db");
  setenv("SESSIONSINK_CONFIG", tmp_.File("missing.conf").c_str(), 1);
  ServeCommandLine missing("sessionsink serve", "");
  EXPECT_NE(Parse(&missing, {}), "");  // named but missing: an error, not skipped
}

TEST_F(ConfigFileTest, SeveralTokensFromTheFileTheFlagsOrTheEnvironment) {
  const std::string file =
      Write("t.conf", "token = [\"old-token\", \"new-token\"]\nread-token = \"reader\"\n");
  ServeCommandLine from_file("sessionsink serve", "");
  ASSERT_EQ(Parse(&from_file, {"--config", file}), "");
  EXPECT_EQ(from_file.config().tokens, (std::vector<std::string>{"old-token", "new-token"}));
  EXPECT_EQ(from_file.config().read_tokens, std::vector<std::string>{"reader"});
  // Two separate lines make one list too.
  ServeCommandLine two_lines("sessionsink serve", "");
  ASSERT_EQ(Parse(&two_lines, {"--config", Write("l.conf",
                                                 "token = \"a1\"\ndb = \"x.db\"\n"
                                                 "token = \"b2\"\n")}),
            "");
  EXPECT_EQ(two_lines.config().tokens, (std::vector<std::string>{"a1", "b2"}));
  ServeCommandLine flags("sessionsink serve", "");
  ASSERT_EQ(Parse(&flags, {"--token", "a1", "--token", "b2,c3"}), "");
  EXPECT_EQ(flags.config().tokens, (std::vector<std::string>{"a1", "b2", "c3"}));
  setenv("SESSIONSINK_TOKEN", "e1,e2", 1);
  ServeCommandLine env("sessionsink serve", "");
  ASSERT_EQ(Parse(&env, {"--config", file}), "");
  EXPECT_EQ(env.config().tokens, (std::vector<std::string>{"e1", "e2"}));
  // check-config never shows them.
  for (const Setting& s : env.Settings()) {
    if (s.name == "token" || s.name == "read-token") {
      EXPECT_TRUE(s.secret);
      EXPECT_EQ(s.shown.find("e1"), std::string::npos) << s.shown;
      EXPECT_EQ(s.shown.find("reader"), std::string::npos) << s.shown;
    }
  }
}

TEST_F(ConfigFileTest, EveryServeOptionCanBeSetInTheFile) {
  // Whatever option AddServeOptions defines is a key of the file.
  ServeCommandLine probe("sessionsink serve", "");
  ASSERT_EQ(Parse(&probe, {}), "");
  std::string text;
  for (const Setting& s : probe.Settings()) {
    if (s.secret) continue;
    text += s.name + " = " + s.shown + "\n";
  }
  ServeCommandLine cl("sessionsink serve", "");
  ASSERT_EQ(Parse(&cl, {"--config", Write("all.conf", text)}), "") << text;
  for (const Setting& s : cl.Settings()) {
    // An empty list (`streampixel-origins = []`) reads as the default: none.
    if (!s.secret && s.shown != "[]") {
      EXPECT_EQ(s.source, SettingSource::kFile) << s.name;
    }
  }
}

TEST_F(ConfigFileTest, BadFilesAreRefusedWithTheReason) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"tokn = \"x\"\n", "unknown setting 'tokn'"}, {"token = \"a#b\"\n", "'#'"},
      {"session-timeout = \"soon\"\n", "duration"}, {"[serve]\ndb = \"x\"\n", "sections"},
      {"listen = \"8080\"\n", "HOST:PORT"},         {"http-threads = \"many\"\n", "http-threads"},
  };
  for (const Case& c : cases) {
    ServeCommandLine cl("sessionsink serve", "");
    const std::string err = Parse(&cl, {"--config", Write("bad.conf", c.text)});
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.text << " -> " << err;
  }
  ServeCommandLine missing("sessionsink serve", "");
  EXPECT_NE(Parse(&missing, {"--config", tmp_.File("nope.conf")}), "");
}

TEST_F(ConfigFileTest, ValidationBeyondSingleOptions) {
  ServeConfig cfg;
  EXPECT_TRUE(ValidateServeConfig(cfg).empty());
  cfg.listen = "0.0.0.0:8080";
  EXPECT_EQ(ValidateServeConfig(cfg).size(), 1u);
  cfg.tokens = {"t"};
  EXPECT_TRUE(ValidateServeConfig(cfg).empty());
  cfg.max_connections = 8;
  cfg.http_threads = 16;
  cfg.tls_cert = tmp_.File("missing.pem");
  EXPECT_EQ(ValidateServeConfig(cfg).size(), 3u);  // connections, half TLS, unreadable cert
}

}  // namespace
}  // namespace sink
