// Boost.JSON and Boost.URL compiled into the benchmark with its own flags
// (header-only mode), so the peers get the same -march as babelbird.
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
