# Writes OUT: the dashboard's files as sink::DashboardAssets() (server/dashboard.h).
# Run by dashboard/CMakeLists.txt with DASHBOARD_DIR (this folder) and UPLOT_DIR
# (uPlot's dist/ folder from node_modules). Bytes are written as numbers, so a
# file may hold anything.
set(assets
  "/|text/html|${DASHBOARD_DIR}/index.html"
  "/assets/app.js|text/javascript|${DASHBOARD_DIR}/app.js"
  "/assets/app.css|text/css|${DASHBOARD_DIR}/app.css"
  "/assets/uPlot.iife.min.js|text/javascript|${UPLOT_DIR}/uPlot.iife.min.js"
  "/assets/uPlot.min.css|text/css|${UPLOT_DIR}/uPlot.min.css")
set(arrays "")
set(entries "")
set(i 0)
foreach(a IN LISTS assets)
  string(REPLACE "|" ";" parts "${a}")
  list(GET parts 0 path)
  list(GET parts 1 type)
  list(GET parts 2 file)
  file(READ "${file}" hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR size "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND arrays "const unsigned char kAsset${i}[] = {${bytes}0};\n")
  string(APPEND entries "      {\"${path}\", \"${type}; charset=utf-8\", std::string_view(reinterpret_cast<const char*>(kAsset${i}), ${size})},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from dashboard/ by dashboard/embed_assets.cmake. Do not edit.
#include \"server/dashboard.h\"

namespace sink {

namespace {

${arrays}
}  // namespace

const std::vector<DashboardAsset>& DashboardAssets() {
  static const std::vector<DashboardAsset> kAll = {
${entries}  };
  return kAll;
}

}  // namespace sink
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
