// The other spelling of heed's one header: <heed/heed.hpp> (main.cpp uses <heed.hpp>).
#include <heed/heed.hpp>

double spelling_check() { return heed::ones({2}).sum().item(); }
