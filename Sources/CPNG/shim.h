// libpng (Debian libpng-dev): its simplified read API decodes the PNG files of data.images.
#include <png.h>
