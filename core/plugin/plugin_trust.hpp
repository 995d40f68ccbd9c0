// Whether a plugin file or folder may be trusted to hold code alloy runs. Loading a plugin runs
// its code with the user's rights, so, as ssh does with keys, alloy refuses plugins that anyone
// but their owner could have replaced: a file or folder writable by others, or by a group that
// has members besides its owner (a user private group is fine), or owned by a user other than
// the one running alloy (or root).
#pragma once

#include <string>

namespace alloy {

// Empty when `path` (a plugin folder or file; symbolic links followed) may be trusted, else the
// reason it may not and how to fix it, for an error message.
std::string untrusted_reason(const std::string& path);

}  // namespace alloy
