#pragma once

namespace l2sweep::cli {

/// Checks the sweep's command line word by word before cxxopts reads it, so that every
/// mistake gets one line in the house style naming what was expected: an unknown option with
/// the nearest known one ("--epoch: no such option; did you mean --epochs?"), an option whose
/// value is missing (named, not the word after it), and a list split by spaces
/// ("--l2 0.001, 0.01"). Throws a usage Error; returns when every word is in its place.
void check_arguments(int argc, const char* const* argv);

}  // namespace l2sweep::cli
