// libcsv (Debian libcsv-dev): an RFC 4180 parser in C, used by GPUFlowML's CSV loader.
#include <csv.h>
