SELECT COUNT(*), MIN(demo.Object.objectId) FROM demo.Object
