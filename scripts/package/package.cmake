# Install layout and the Debian package (CPack DEB), included by the top
# CMakeLists.txt. `cmake --install build` lays out what the package holds:
#
#   /usr/bin/sessionsink                          the binary (reports and dashboard compiled in)
#   /etc/sessionsink/sessionsink.conf             the configuration (mode 600; a conffile)
#   /lib/systemd/system/sessionsink.service       the unit
#   /usr/share/sessionsink/sql/*.sql              the reports' SQL, for sqlite3 (not read by the binary)
#   /usr/share/doc/sessionsink/                   README.md, operations.md, copyright, examples/
#
# `cpack -G DEB` (or `cmake --build build --target package`) in the build
# directory makes sessionsink_<version>_<arch>.deb, with Depends computed by
# dpkg-shlibdeps and the maintainer scripts of scripts/package/.

# A system layout (the unit runs /usr/bin/sessionsink): CMake's default
# prefix /usr/local becomes /usr, also in a build directory configured
# before; another -DCMAKE_INSTALL_PREFIX is kept. DESTDIR=... stages it.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT OR CMAKE_INSTALL_PREFIX STREQUAL "/usr/local")
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix" FORCE)
endif()
include(GNUInstallDirs)

set(SINK_PACKAGE_DIR ${PROJECT_SOURCE_DIR}/scripts/package)
set(SINK_BIN ${CMAKE_INSTALL_FULL_BINDIR}/sessionsink)
configure_file(${SINK_PACKAGE_DIR}/sessionsink.service
               ${PROJECT_BINARY_DIR}/package/sessionsink.service @ONLY)

install(TARGETS sessionsink RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${SINK_PACKAGE_DIR}/sessionsink.conf DESTINATION /etc/sessionsink
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES ${PROJECT_BINARY_DIR}/package/sessionsink.service
        DESTINATION /lib/systemd/system
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/query/sql/ DESTINATION ${CMAKE_INSTALL_DATADIR}/sessionsink/sql
        FILES_MATCHING PATTERN "*.sql")
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${SINK_PACKAGE_DIR}/copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/docs/examples/flussonic-batch.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sessionsink)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "sessionsink")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "media-server session events into one correct SQLite row per session")
set(CPACK_PACKAGE_DESCRIPTION
    "sessionsink receives the session events media servers post (Flussonic, nginx-rtmp,\n\
Streampixel, GameLift Streams, ZEGO), keeps every event and one correct row per\n\
session in SQLite, answers only after a durable commit, serves reports and a\n\
dashboard, and can fan out to Kafka. Runs as the systemd service sessionsink.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # sessionsink_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "sessionsink maintainers <sessionsink@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The maintainer scripts create the user (adduser) and enable the unit
# (deb-systemd-helper, from init-system-helpers).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, init-system-helpers")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SINK_PACKAGE_DIR}/conffiles ${SINK_PACKAGE_DIR}/postinst ${SINK_PACKAGE_DIR}/prerm
    ${SINK_PACKAGE_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
