// Must NOT compile (CTest format_rejects_unsupported_types): str_format takes only the types
// common/format.h lists, so a type fmt would format implicitly or not at all is converted at the
// call site. Not part of any build.
#include "common/format.h"

enum class Color { red };

std::string rejected() { return scouter::str_format("{}", Color::red); }
