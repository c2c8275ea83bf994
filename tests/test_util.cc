#include "tests/test_util.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sink::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sessionsink-test-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  if (p == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Result<ParsedBody> Parse(std::string_view body) {
  std::string buf(body);
  buf.append(simdjson::SIMDJSON_PADDING, ' ');
  return ParseBody(simdjson::padded_string_view(buf.data(), body.size(), buf.size()));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> QueryRows(Db& db, const std::string& sql) {
  std::vector<std::string> rows;
  Result<Stmt> s = db.Prepare(sql);
  EXPECT_TRUE(s.ok()) << s.status().ToString() << " in " << sql;
  if (!s.ok()) return rows;
  for (;;) {
    Result<bool> r = s->Step();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || !r.value()) break;
    std::string line;
    for (int c = 0; c < s->ColumnCount(); ++c) {
      if (c) line += '\t';
      line += s->IsNull(c) ? std::string("NULL") : std::string(s->Text(c));
    }
    rows.push_back(std::move(line));
  }
  return rows;
}

std::vector<std::string> QueryRows(const std::string& db_path, const std::string& sql) {
  Result<Db> db = Db::Open(db_path, false, /*read_only=*/true);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return {};
  return QueryRows(db.value(), sql);
}

}  // namespace sink::test
