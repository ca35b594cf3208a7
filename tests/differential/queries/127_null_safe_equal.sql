SELECT COUNT(*) FROM Object WHERE gMag <=> NULL OR extendedness <=> 1
