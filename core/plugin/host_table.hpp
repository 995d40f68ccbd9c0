// The alloy_host function table liballoy gives every plugin: each member converts C arguments,
// forwards to the job's services and provider, and turns exceptions into status codes with the
// message on the context.
#pragma once

#include <alloy/alloy.h>

namespace alloy {

const alloy_host* host_table();

}  // namespace alloy
