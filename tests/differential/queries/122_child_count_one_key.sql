SELECT COUNT(*) FROM Source WHERE objectId = 13
