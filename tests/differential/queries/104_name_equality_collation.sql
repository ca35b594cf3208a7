SELECT objectId, name FROM Object WHERE name = 'OBJ-10'
