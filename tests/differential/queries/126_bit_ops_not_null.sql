SELECT COUNT(*) FROM Object WHERE decl > 0 AND (flags & 4) = 4 AND NOT (gMag < 20)
