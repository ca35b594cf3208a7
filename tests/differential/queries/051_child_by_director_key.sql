SELECT s.* FROM Source s WHERE s.objectId = 10003
