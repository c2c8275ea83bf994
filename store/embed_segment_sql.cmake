# Writes OUT, a C++ file defining sink::SegmentSchemaSql() from schemas/segment.sql.
file(READ "${IN}" sql)
file(WRITE "${OUT}.tmp" "// Generated from schemas/segment.sql by store/embed_segment_sql.cmake. Do not edit.\n#include \"store/segment_log.h\"\n\nnamespace sink {\n\nstd::string_view SegmentSchemaSql() {\n  return R\"sinksql(${sql})sinksql\";\n}\n\n}  // namespace sink\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
