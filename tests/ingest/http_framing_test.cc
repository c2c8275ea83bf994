// The framing rules of server/http_framing.h, as a table of heads.
#include "server/http_framing.h"

#include <gtest/gtest.h>

#include "ingest/body_decoder.h"
#include "server/config.h"
#include "store/limits.h"

namespace sink {
namespace {

struct Parsed {
  bool ok = false;
  RequestHead head;
  FramingError error;
};

Parsed Parse(const std::string& fields, const std::string& line = "POST /events HTTP/1.1") {
  Parsed p;
  p.ok = ParseRequestHead(line + "\r\n" + fields + "\r\n", &p.head, &p.error);
  return p;
}

int Status(const std::string& fields, const std::string& line = "POST /events HTTP/1.1") {
  Parsed p = Parse(fields, line);
  return p.ok ? 0 : p.error.status;
}

TEST(HttpFramingTest, ContentLengthIsDigitsOnlyAndOnce) {
  Parsed p = Parse("Host: a\r\nContent-Length: 0012\r\n");
  ASSERT_TRUE(p.ok) << p.error.message;
  EXPECT_EQ(p.head.framing, BodyFraming::kLength);
  EXPECT_EQ(p.head.content_length, 12u);
  for (const char* v : {"+5", "5a", "0x5", "-5", "5 5", "5,5", "", "٣"}) {
    EXPECT_EQ(Status(std::string("Host: a\r\nContent-Length: ") + v + "\r\n"), 400) << v;
  }
  EXPECT_EQ(Status("Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n"), 400);
  EXPECT_EQ(Parse("Host: a\r\nContent-Length: 99999999999999999999999\r\n").head.content_length,
            UINT64_MAX);
}

TEST(HttpFramingTest, TransferEncodingMustEndInOneChunked) {
  EXPECT_EQ(Parse("Host: a\r\nTransfer-Encoding: CHUNKED\r\n").head.framing, BodyFraming::kChunked);
  EXPECT_EQ(Status("Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n"), 400);
  EXPECT_EQ(Status("Host: a\r\nTransfer-Encoding: identity\r\n"), 400);
  EXPECT_EQ(Status("Host: a\r\nTransfer-Encoding: chunked, gzip\r\n"), 400);
  EXPECT_EQ(Status("Host: a\r\nTransfer-Encoding: chunked,chunked\r\n"), 400);
  EXPECT_EQ(Status("Host: a\r\nTransfer-Encoding: deflate, chunked\r\n"), 501);
  EXPECT_EQ(Status("Host: a\r\nTransfer-Encoding: x-custom, chunked\r\n"), 501);
  EXPECT_EQ(Status("Host: a\r\nTransfer-Encoding: chunked\r\n", "POST /events HTTP/1.0"), 400);
  EXPECT_EQ(Status("Host: a\r\nTransfer-Encoding : chunked\r\n"), 400);
}

TEST(HttpFramingTest, BodiesNeedFramingAndHeadsStayBounded) {
  EXPECT_EQ(Status("Host: a\r\n"), 411);
  EXPECT_EQ(Status("Host: a\r\n", "GET /healthz HTTP/1.1"), 0);
  EXPECT_EQ(Status("", "GET /healthz HTTP/1.1"), 400);  // no Host
  EXPECT_EQ(Status("", "GET /healthz HTTP/1.0"), 0);    // HTTP/1.0 needs none
  std::string fields = "Host: a\r\n";
  for (size_t i = 1; i < limits::kMaxHeaderFields; ++i) fields += "X: y\r\n";
  EXPECT_EQ(Status(fields, "GET / HTTP/1.1"), 0);
  EXPECT_EQ(Status(fields + "X: z\r\n", "GET / HTTP/1.1"), 431);
  EXPECT_EQ(
      Status("Host: a\r\n", "GET /" + std::string(limits::kMaxRequestLine, 'a') + " HTTP/1.1"),
      414);
  EXPECT_EQ(Status("Host: a\r\n", "GET / HTTP/3.0"), 505);
  EXPECT_EQ(Status("Host: a\r\n", "SPACEJUMP / HTTP/1.1"), 501);
  EXPECT_EQ(Status("Host: a\r\n", "GET / HTTP/1.1 "), 400);
  EXPECT_EQ(Status("Host: a\r\nX: a\x00b\r\n"), 400);
}

TEST(HttpFramingTest, KeepAliveFollowsTheVersionAndConnection) {
  EXPECT_TRUE(Parse("Host: a\r\n", "GET / HTTP/1.1").head.keep_alive);
  EXPECT_FALSE(Parse("Host: a\r\nConnection: Close\r\n", "GET / HTTP/1.1").head.keep_alive);
  EXPECT_FALSE(Parse("", "GET / HTTP/1.0").head.keep_alive);
  EXPECT_TRUE(Parse("Connection: keep-alive\r\n", "GET / HTTP/1.0").head.keep_alive);
}

TEST(HttpFramingTest, CanonicalHeadHasOneFramingFieldAndNoCoding) {
  Parsed p = Parse("Host: a\r\nContent-Length: 07\r\nContent-Encoding: GZIP\r\nX-A:  b \r\n");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(CanonicalHead(p.head),
            "POST /events HTTP/1.1\r\nHost: a\r\nX-A: b\r\nContent-Length: 7\r\n\r\n");
  EXPECT_EQ(p.head.content_encoding, "GZIP");
}

std::string Decode(const std::string& in, bool* ok, size_t step = 1) {
  ChunkedDecoder d;
  std::string out;
  size_t i = 0;
  while (i < in.size() && !d.done() && !d.failed()) {
    const size_t n = std::min(step, in.size() - i);
    i += d.Feed(in.data() + i, n, &out);
  }
  *ok = d.done();
  return out;
}

TEST(HttpFramingTest, ChunkedDecoderIsStrictWhateverTheSplit) {
  for (size_t step : {1, 3, 1000}) {
    bool ok = false;
    EXPECT_EQ(Decode("3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n", &ok, step),
              "abc0123456789");
    EXPECT_TRUE(ok) << step;
    for (const char* bad :
         {" 3\r\nabc\r\n0\r\n\r\n", "0x3\r\nabc\r\n0\r\n\r\n", "3 \r\nabc\r\n0\r\n\r\n",
          "3\nabc\r\n0\r\n\r\n", "3\r\nabcd\r\n0\r\n\r\n", "10000000000000000\r\n",
          "0\r\nbad trailer\r\n\r\n"}) {
      Decode(bad, &ok, step);
      EXPECT_FALSE(ok) << bad;
    }
  }
}

TEST(HttpFramingTest, BodyDecoderCodings) {
  std::string unsupported;
  EXPECT_NE(BodyDecoder::For("", &unsupported), nullptr);
  EXPECT_NE(BodyDecoder::For("Identity", &unsupported), nullptr);
  EXPECT_NE(BodyDecoder::For("GZip", &unsupported), nullptr);
  EXPECT_NE(BodyDecoder::For("deflate", &unsupported), nullptr);
  for (const char* c : {"br", "compress", "gzip;q=1", "gzip, deflate", "x-foo"}) {
    EXPECT_EQ(BodyDecoder::For(c, &unsupported), nullptr) << c;
  }
}

TEST(HttpFramingTest, ListeningBeyondLoopbackNeedsATokenOrAnExplicitChoice) {
  ServeConfig cfg;
  for (const char* l : {"127.0.0.1:8080", "127.9.9.9:1", "localhost:80", "[::1]:8080"}) {
    cfg.listen = l;
    EXPECT_EQ(ExposureProblem(cfg), "") << l;
  }
  cfg.listen = "0.0.0.0:8080";
  EXPECT_NE(ExposureProblem(cfg), "");
  cfg.allow_unauthenticated = true;
  EXPECT_EQ(ExposureProblem(cfg), "");
  cfg.allow_unauthenticated = false;
  cfg.tokens = {"t"};
  EXPECT_EQ(ExposureProblem(cfg), "");
}

}  // namespace
}  // namespace sink
