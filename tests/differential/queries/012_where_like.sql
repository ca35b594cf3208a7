SELECT objectId, name FROM Object WHERE name LIKE 'obj-12%'
