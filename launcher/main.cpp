// scouter: preprocessing, training and explanation of SCOUTER models (see README.md).
#include "launcher/cli.h"

int main(int argc, char** argv) { return scouter::run_cli(argc, argv); }
