// Deliberately bad (see bad_tu.cpp): a project header that includes fmt.
#pragma once

#include <fmt/format.h>
