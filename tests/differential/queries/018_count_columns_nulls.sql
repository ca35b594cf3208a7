SELECT COUNT(*), COUNT(gMag), COUNT(name), COUNT(extendedness) FROM Object
