# babelbird's CMake targets, shared by the source tree (CMakeLists.txt, for
# add_subdirectory and FetchContent) and by the installed package
# (babelbirdConfig.cmake, installed by `cmake --install` and by `meson install`
# alike, so both installs give the same targets).
#
#   babelbird::babelbird  the core: C++20 and simdjson (required)
#   babelbird::curl       adapters/curl.hpp: + CURL::libcurl
#   babelbird::beast      the Boost.Beast / Asio front end: + Boost headers
#   babelbird::redis      the hiredis token store: + hiredis
#   babelbird::testing    testing/fake_server.hpp: + cpp-httplib and threads
#
# An optional target exists only when its dependency is found; a consumer
# disables a lookup with -DCMAKE_DISABLE_FIND_PACKAGE_<CURL|Boost|hiredis|httplib>=ON.
# Nothing here sets a global flag, a compiler option or a variable a parent reads,
# except babelbird_<component>_FOUND.

include_guard(GLOBAL)

# simdjson: its CMake package (Debian's libsimdjson-dev ships one, target
# simdjson::simdjson), else pkg-config. Either way the core links
# simdjson::simdjson, so the installed package does not depend on which was found.
function(_babelbird_find_simdjson)
  if(TARGET simdjson::simdjson)
    return()
  endif()
  find_package(simdjson CONFIG QUIET)
  if(TARGET simdjson::simdjson)
    return()
  endif()
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(babelbird_pc_simdjson QUIET IMPORTED_TARGET simdjson)
  endif()
  if(TARGET PkgConfig::babelbird_pc_simdjson)
    add_library(simdjson::simdjson INTERFACE IMPORTED)
    set_target_properties(simdjson::simdjson PROPERTIES
      INTERFACE_LINK_LIBRARIES PkgConfig::babelbird_pc_simdjson)
  endif()
endfunction()

# _babelbird_find_component(<component> <out-var>): finds the component's
# dependency and sets <out-var> to the targets to link, or to "" when absent.
function(_babelbird_find_component component out)
  set(libs "")
  if(component STREQUAL "curl")
    find_package(CURL QUIET)
    if(TARGET CURL::libcurl)
      set(libs CURL::libcurl)
    endif()
  elseif(component STREQUAL "beast")
    find_package(Boost 1.81 QUIET)
    if(TARGET Boost::headers)
      # Asio runs its resolver on a thread; https:// needs OpenSSL, and
      # adapters/beast.hpp enables TLS when <openssl/ssl.h> is there, so the
      # libraries are linked whenever they are found.
      find_package(Threads QUIET)
      set(libs Boost::headers)
      if(TARGET Threads::Threads)
        list(APPEND libs Threads::Threads)
      endif()
      find_package(OpenSSL QUIET)
      if(TARGET OpenSSL::SSL)
        list(APPEND libs OpenSSL::SSL OpenSSL::Crypto)
      endif()
    endif()
  elseif(component STREQUAL "redis")
    # Upstream hiredis >= 1.0 ships a CMake package with hiredis::hiredis;
    # Debian 12's 0.14 has none usable, so pkg-config `hiredis`.
    if(NOT CMAKE_DISABLE_FIND_PACKAGE_hiredis)
      find_package(hiredis CONFIG QUIET)
      if(TARGET hiredis::hiredis)
        set(libs hiredis::hiredis)
      else()
        find_package(PkgConfig QUIET)
        if(PKG_CONFIG_FOUND)
          pkg_check_modules(babelbird_pc_hiredis QUIET IMPORTED_TARGET hiredis)
        endif()
        if(TARGET PkgConfig::babelbird_pc_hiredis)
          set(libs PkgConfig::babelbird_pc_hiredis)
        endif()
      endif()
    endif()
  elseif(component STREQUAL "testing")
    # Upstream cpp-httplib ships httplib::httplib; Debian 12 ships only
    # pkg-config `cpp-httplib` (a compiled library).
    if(NOT CMAKE_DISABLE_FIND_PACKAGE_httplib)
      find_package(Threads QUIET)
      find_package(httplib CONFIG QUIET)
      if(TARGET httplib::httplib)
        set(libs httplib::httplib)
      else()
        find_package(PkgConfig QUIET)
        if(PKG_CONFIG_FOUND)
          pkg_check_modules(babelbird_pc_httplib QUIET IMPORTED_TARGET cpp-httplib)
        endif()
        if(TARGET PkgConfig::babelbird_pc_httplib)
          set(libs PkgConfig::babelbird_pc_httplib)
        endif()
      endif()
      if(libs AND TARGET Threads::Threads)
        list(APPEND libs Threads::Threads)
      else()
        set(libs "")
      endif()
    endif()
  endif()
  set(${out} "${libs}" PARENT_SCOPE)
endfunction()

# _babelbird_add_targets(<include-dir> IMPORTED|SOURCE): the core target and
# every optional target whose dependency is found. SOURCE makes ordinary
# INTERFACE targets (named babelbird, babelbird_curl, ...) with babelbird::
# aliases; IMPORTED makes babelbird::... imported targets for an installed tree.
# Sets babelbird_FOUND-style variables in the caller: babelbird_core_FOUND and
# babelbird_<component>_FOUND.
macro(_babelbird_add_targets _bb_include _bb_mode)
  _babelbird_find_simdjson()
  if(NOT TARGET simdjson::simdjson)
    set(babelbird_core_FOUND FALSE)
  else()
    set(babelbird_core_FOUND TRUE)
    _babelbird_add_one(babelbird "${_bb_include}" ${_bb_mode} simdjson::simdjson)
    foreach(_bb_component IN ITEMS curl beast redis testing)
      _babelbird_find_component(${_bb_component} _bb_libs)
      if(_bb_libs)
        set(babelbird_${_bb_component}_FOUND TRUE)
        _babelbird_add_one(${_bb_component} "${_bb_include}" ${_bb_mode} babelbird::babelbird ${_bb_libs})
      else()
        set(babelbird_${_bb_component}_FOUND FALSE)
      endif()
    endforeach()
  endif()
endmacro()

function(_babelbird_add_one name include mode)
  if(TARGET babelbird::${name})
    return()
  endif()
  if(mode STREQUAL "IMPORTED")
    add_library(babelbird::${name} INTERFACE IMPORTED)
    set(target babelbird::${name})
  else()
    set(target babelbird_${name})
    if(name STREQUAL "babelbird")
      set(target babelbird)
    endif()
    add_library(${target} INTERFACE)
    add_library(babelbird::${name} ALIAS ${target})
    # `cmake --install` names the installed target babelbird::<name> as well.
    set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  endif()
  if(name STREQUAL "babelbird")
    target_include_directories(${target} INTERFACE "${include}")
    target_compile_features(${target} INTERFACE cxx_std_20)
  endif()
  target_link_libraries(${target} INTERFACE ${ARGN})
endfunction()
