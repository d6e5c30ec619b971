# Install layout (GNUInstallDirs) and the Debian package (cpack -G DEB from the build directory).
#   bin/rtchat-server, bin/rtchat-loadtest, bin/rtchat-cli
#   share/rtchat/web/          the built UI (npm run build:web); the server finds it there
#   share/doc/rtchat/          README and docs/*.md
#   share/man/man1/rtchat-server.1.gz
#   lib/systemd/system/rtchat.service, /etc/rtchat/rtchat.env (absolute: a service's config lives
#   in /etc whatever the prefix; stage with DESTDIR=... cmake --install build)
include(GNUInstallDirs)

set(RTCHAT_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/rtchat)

foreach(tool rtchat-server rtchat-loadtest rtchat-cli)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

# The UI is built by npm (scripts/build.sh), not by CMake: a missing web/dist fails the install
# with the command to run rather than shipping a server without its UI.
set(RTCHAT_WEB_DIST ${PROJECT_SOURCE_DIR}/web/dist)
install(CODE "
  if(NOT EXISTS \"${RTCHAT_WEB_DIST}/index.html\")
    message(FATAL_ERROR \"${RTCHAT_WEB_DIST}/index.html is missing: run `npm run build:web` first\")
  endif()")
install(DIRECTORY ${RTCHAT_WEB_DIST}/ DESTINATION ${CMAKE_INSTALL_DATADIR}/rtchat/web
  OPTIONAL)

install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${RTCHAT_DOCDIR})
file(GLOB _rtchat_docs ${PROJECT_SOURCE_DIR}/docs/*.md)
list(FILTER _rtchat_docs EXCLUDE REGEX "\\.[0-9]\\.md$")  # man page sources
install(FILES ${_rtchat_docs} DESTINATION ${RTCHAT_DOCDIR})

# Man page: Markdown converted by pandoc (Debian package pandoc), gzipped as Debian ships them.
find_program(PANDOC pandoc)
find_program(GZIP gzip)
if(PANDOC AND GZIP)
  set(_man ${PROJECT_BINARY_DIR}/man/rtchat-server.1)
  add_custom_command(OUTPUT ${_man}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${PANDOC} -s -t man ${PROJECT_SOURCE_DIR}/docs/rtchat-server.1.md -o ${_man}
    COMMAND ${GZIP} -9nf ${_man}
    DEPENDS ${PROJECT_SOURCE_DIR}/docs/rtchat-server.1.md
    COMMENT "man page rtchat-server.1 (pandoc)")
  add_custom_target(rtchat-man ALL DEPENDS ${_man}.gz)
  install(FILES ${_man}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(WARNING "pandoc not found: no man page (scripts/install-deps.sh installs it)")
endif()

install(FILES ${PROJECT_SOURCE_DIR}/packaging/rtchat.service
  DESTINATION lib/systemd/system)  # /usr/lib/systemd/system
install(FILES ${PROJECT_SOURCE_DIR}/packaging/rtchat.env DESTINATION /etc/rtchat
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

# --- CPack: rtchat_<version>_<arch>.deb --------------------------------------------------
set(CPACK_PACKAGE_NAME rtchat)
set(CPACK_PACKAGE_VENDOR "realtime-chat")
set(CPACK_PACKAGE_CONTACT "realtime-chat maintainers <rtchat@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "realtime chat server over WebSockets (Phoenix v2 JSON and binary), with a web UI")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# No CPACK_SET_DESTDIR: it would package CMAKE_INSTALL_PREFIX (/usr/local), not /usr; CPack
# stages the absolute /etc/rtchat destination by itself.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # rtchat_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies from the binaries (dpkg-shlibdeps, package dpkg-dev); adduser for the
# postinst; systemd is recommended, not required (the binary runs anywhere).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
