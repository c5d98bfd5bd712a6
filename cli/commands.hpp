// The commands of babelbird-cli; each returns the process exit status.
#pragma once

#include "args.hpp"

namespace cli {

int run_refresh(const arguments& args);
int run_token(const arguments& args);
int run_authorize_url(const arguments& args);
int run_call(const arguments& args);
int run_serve_fake(const arguments& args);
int run_demo(const arguments& args);

} // namespace cli
