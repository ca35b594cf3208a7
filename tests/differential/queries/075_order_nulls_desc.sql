-- ordered
SELECT objectId, extendedness FROM Object ORDER BY extendedness DESC, objectId DESC LIMIT 10 OFFSET 3
