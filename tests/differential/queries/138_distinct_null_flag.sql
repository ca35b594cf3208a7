SELECT DISTINCT name IS NULL AS nn, extendedness FROM Object
