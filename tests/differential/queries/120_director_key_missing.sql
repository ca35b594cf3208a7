SELECT * FROM Object WHERE objectId = 14
