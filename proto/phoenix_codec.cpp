// Stub: replaced by the implementation.
#include "proto/phoenix_codec.h"
