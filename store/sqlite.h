// Thin RAII wrappers over the SQLite C API.
//
// Db owns one sqlite3 connection; Stmt owns one prepared statement. Both are
// move-only; a moved-from object holds nullptr and its destructor does nothing.
// Statements must be destroyed before the Db they came from (members declared
// after the Db in a class are destroyed first). Neither class is thread-safe:
// each connection belongs to one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"

namespace sink {

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  // Parameters are 1-based, as in SQLite. Text is copied (SQLITE_TRANSIENT).
  void Bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  // Without a copy: REQUIRES the text to stay valid until the statement has
  // been stepped and Reset() (for values that outlive the statement's use).
  void BindView(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindView(int i, const std::string& v) { BindView(i, std::string_view(v)); }
  void BindView(int i, const std::optional<std::string>& v) {
    v ? BindView(i, std::string_view(*v)) : BindNull(i);
  }
  void BindNull(int i) { sqlite3_bind_null(s_, i); }
  void Bind(int i, const std::optional<int64_t>& v) { v ? Bind(i, *v) : BindNull(i); }
  void Bind(int i, const std::optional<std::string>& v) {
    v ? Bind(i, std::string_view(*v)) : BindNull(i);
  }

  // Runs one step. Returns true when a row is available, false when done.
  Result<bool> Step();
  // Steps until done; for statements that return no rows.
  Status Run();
  // Run(), then Reset() whatever the outcome: the statement is ready for its
  // next bindings.
  Status RunAndReset() {
    Status st = Run();
    Reset();
    return st;
  }
  // Steps until done, collecting column 0 of every row as text; resets.
  Result<std::vector<std::string>> FirstColumn();
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::optional<int64_t> OptInt(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }
  std::string_view Text(int col) const;
  std::string_view Blob(int col) const;
  std::optional<std::string> OptText(int col) const {
    if (IsNull(col)) return std::nullopt;
    return std::string(Text(col));
  }
  int ColumnCount() const { return sqlite3_column_count(s_); }
  const char* ColumnName(int col) const { return sqlite3_column_name(s_, col); }
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

class Db {
 public:
  // Opens (and with `create`, creates) the database at `path`. The parent
  // directory must exist. Returns kIoError with SQLite's message on failure.
  static Result<Db> Open(const std::string& path, bool create, bool read_only = false);

  Db() = default;
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  Status Exec(std::string_view sql);
  Result<Stmt> Prepare(std::string_view sql);
  // Prepares into `*out` (for statements kept as members).
  Status Prepare(std::string_view sql, Stmt* out);
  // Runs a query that returns one integer (e.g. a PRAGMA).
  Result<int64_t> QueryInt(std::string_view sql);
  // Maps the last error on this connection to a Status: SQLITE_FULL, BUSY,
  // LOCKED and IOERR become kUnavailable (retrying later can succeed);
  // READONLY, CANTOPEN and PERM become kIoError (an operator must act);
  // anything else kInternal. The message names `what` and SQLite's text.
  Status LastError(std::string_view what) const;
  sqlite3* get() const { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

}  // namespace sink
