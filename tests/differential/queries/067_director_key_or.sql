SELECT COUNT(*) FROM Object WHERE objectId = 13 OR gMag < 18
