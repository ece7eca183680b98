# The Debian package: `cpack -G DEB` in a build directory writes
# wsgate_<version>_amd64.deb with
#   /usr/sbin/wsgate                       the binary (master/CMakeLists.txt)
#   /etc/wsgate/wsgate.yaml                conf/wsgate.yaml, a conffile
#   /lib/systemd/system/wsgate.service     scripts/wsgate.service
# and maintainer scripts that create the `wsgate` system user (postinst) and
# remove it, /etc/wsgate and /var/log/wsgate on purge (postrm).
# Included from the top-level CMakeLists.txt after every install() rule.

set(_wsgate_package_dir ${CMAKE_CURRENT_LIST_DIR})

# cpack (and `make install`) package what the build made instead of first
# building every target, tests and benchmarks included: packaging takes
# seconds, and the package test can run without rebuilding the tree.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# Absolute destinations: these paths are what systemd and the unit expect,
# whatever the install prefix (which only moves the binary).
install(FILES ${PROJECT_SOURCE_DIR}/conf/wsgate.yaml DESTINATION /etc/wsgate
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/scripts/wsgate.service DESTINATION /lib/systemd/system
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# A second package with a higher version, e.g. to test an upgrade, needs no
# reconfigure: `cpack -G DEB -D CPACK_PACKAGE_VERSION=0.1.1`.
set(CPACK_PACKAGE_NAME wsgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "wsgate maintainers <wsgate@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "WebSocket reverse proxy and fan-out gateway")
set(CPACK_PACKAGE_DESCRIPTION
    "wsgate spreads WebSocket sessions over the healthy backends of a pool, least-loaded
across all worker processes, relays every frame checked against RFC 6455, and serves
upstream feeds to many subscribers over one upstream connection.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # wsgate_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps (package dpkg-dev); passwd
# for useradd/userdel in the maintainer scripts.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_wsgate_package_dir}/conffiles
    ${_wsgate_package_dir}/postinst
    ${_wsgate_package_dir}/prerm
    ${_wsgate_package_dir}/postrm)
# 0755 scripts and a 0644 conffiles list, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)

include(CPack)
