// Stub: replaced by the implementation.
#include "proto/binary_codec.h"
