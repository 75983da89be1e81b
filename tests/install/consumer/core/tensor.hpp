#pragma once
// The consumer's own core/tensor.hpp. heed's headers are included as heed/core/..., so this name is
// free for a user's program: neither file may shadow the other.
namespace consumer {
inline int own_core_header() { return 1; }
}  // namespace consumer
