// Debian installs OpenBLAS's cblas.h under the multiarch include directory
// (/usr/include/x86_64-linux-gnu), which pkg-config's cflags point at.
#include <cblas.h>
