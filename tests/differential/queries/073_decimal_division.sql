SELECT objectId, flags / 3 AS f3 FROM Object WHERE objectId < 200
