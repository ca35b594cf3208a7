SELECT COUNT(*), MAX(uMag), SUM(flags) FROM Object WHERE objectId = 999999937
